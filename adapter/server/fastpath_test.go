package server_test

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/server"
	"github.com/foresight-dev/foresight/adapter/source"
)

// The fast path answers the external-metrics list requests HPAs send exactly
// as the library's handlers do: same status, same object, for values,
// selectors, hostile selectors, unknown metrics and stale series. Requests
// it does not handle (other parameters, other media types) take the
// library's chain on the same server.
func TestFastPathAnswersAsTheLibrary(t *testing.T) {
	h := startHarness(t, clientRules, fillClientData)
	library := h.serve(t, true)
	const base = "/apis/external.metrics.k8s.io/v1beta1/namespaces/"
	cases := []struct {
		path, accept string
		fast         bool
		code         int
	}{
		{base + "a/queue_depth", "application/json, */*", true, 200},
		{base + "a/queue_depth?labelSelector=queue%3Dorders", "application/json, */*", true, 200},
		{base + "a/queue_depth?labelSelector=queue+in+(orders,emails)", "application/json", true, 200},
		{base + "b/queue_depth?labelSelector=queue!%3Demails", "", true, 200},
		{base + "a/queue_depth?labelSelector=queue%3D%22x%22%7D+or+vector(1)", "*/*", true, 400},
		{base + "a/queue_depth?labelSelector=namespace%3Db", "application/json", true, 200}, // no items
		{base + "a/queue_depth?labelSelector=__name__%3Dother", "application/json", true, 400},
		{base + "a/no_such_metric", "application/json", true, 404},
		{base + "a/service_rps", "application/json", true, 404}, // an object metric, not external
		{base + "c/queue_depth", "application/json", true, 200}, // no series there: empty list
		{base + "a/queue_depth?labelSelector=queue%3Dorders&timeout=30s", "application/json, */*", true, 200},
		{base + "a/queue_depth?timeout=-1s", "application/json", false, 200},
		{base + "a/queue_depth?timeout=bogus", "application/json", false, 400},
		{base + "a/queue_depth?labelSelector=queue%3Dorders&pretty=true", "application/json", false, 200},
		{base + "a/queue_depth", "application/json;as=Table;v=v1;g=meta.k8s.io", false, 406},
		{base + "a/queue_depth", "application/yaml", false, 200},
		// Metadata views: metric values have no object metadata; with nothing else
		// acceptable 406, else what else the client accepts.
		{base + "a/queue_depth", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", false, 406},
		{base + "a/queue_depth", "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", false, 406},
		{base + "a/queue_depth", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io, application/json", false, 200},
		{"/apis/custom.metrics.k8s.io/v1beta2/namespaces/a/services/web/service_rps", "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io", false, 406},
		{"/apis/custom.metrics.k8s.io/v1beta1/namespaces/a/services/web/service_rps", "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json", false, 200},
		{base + "a/queue_depth", "application/*", false, 406},
		// What kube-controller-manager's HPA controller asks for.
		{base + "a/queue_depth?labelSelector=queue%3Dorders", "application/vnd.kubernetes.protobuf, */*", true, 200},
		{base + "a/queue_depth", "application/vnd.kubernetes.protobuf,application/json", true, 200},
		{base + "a/no_such_metric", "application/vnd.kubernetes.protobuf, */*", true, 404},
		{base + "a/queue_depth", "application/json;q=0.5, application/vnd.kubernetes.protobuf", true, 200},
	}
	// Selectors beyond the limits: the same 400 on both paths; a text over
	// the length limit before either chain runs (so not on the fast path),
	// too many values before the fast path parses the text and after the
	// library parses it.
	values := func(n, width int) string {
		vs := make([]string, n)
		for i := range vs {
			vs[i] = fmt.Sprintf("v%0*d", width-1, i)
		}
		return url.QueryEscape("queue in (" + strings.Join(vs, ",") + ")")
	}
	for _, accept := range []string{"application/json", "application/vnd.kubernetes.protobuf, */*"} {
		cases = append(cases,
			struct {
				path, accept string
				fast         bool
				code         int
			}{base + "a/queue_depth?labelSelector=" + values(15000, 60), accept, false, 400}, // 900 KiB
			struct {
				path, accept string
				fast         bool
				code         int
			}{base + "a/queue_depth?labelSelector=" + values(257, 4), accept, true, 400}) // 257 values in 1.3 KiB
	}
	fastRequests := func() uint64 {
		mfs, err := h.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, mf := range mfs {
			if mf.GetName() == "foresight_adapter_request_duration_seconds" {
				for _, m := range mf.GetMetric() {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
		return n
	}
	for _, c := range cases {
		before := fastRequests()
		gotCode, gotHeader, got := fetchResponse(t, h.url+c.path, c.accept)
		wantCode, wantHeader, want := fetchResponse(t, library+c.path, c.accept)
		if gotCode != wantCode || gotCode != c.code {
			t.Errorf("GET %.200s (Accept %q): fast path %d, library %d, want %d\n%.300s", c.path, c.accept, gotCode, wantCode, c.code, got)
			continue
		}
		if g, w := gotHeader.Get("Content-Type"), wantHeader.Get("Content-Type"); g != w {
			t.Errorf("GET %s (Accept %q): fast path Content-Type %q, library %q", c.path, c.accept, g, w)
		}
		if date, err := http.ParseTime(gotHeader.Get("Date")); err != nil || time.Since(date).Abs() > 5*time.Second {
			t.Errorf("GET %s: Date %q (%v), want the current time", c.path, gotHeader.Get("Date"), err)
		}
		if c.code != 406 && !reflect.DeepEqual(decode(t, got, c.accept), decode(t, want, c.accept)) {
			t.Errorf("GET %.200s: fast path answered\n%.500s\nlibrary answered\n%.500s", c.path, got, want)
		}
		if took := fastRequests() - before; took != map[bool]uint64{true: 1, false: 0}[c.fast] {
			t.Errorf("GET %s (Accept %q): %d requests on the fast path, want fast=%v", c.path, c.accept, took, c.fast)
		}
	}

	// Stale: past staleAfter both answer 503 with the same reason. (The ages
	// in the messages may differ: the loop keeps running between the two
	// requests, and PromQL's lookback repeats the last sample for 5 minutes.)
	h.clock.Advance(10 * time.Minute)
	path := base + "a/queue_depth?labelSelector=queue%3Dorders"
	gotCode, got := fetch(t, h.url+path, "application/json")
	wantCode, want := fetch(t, library+path, "application/json")
	status := func(body []byte) (string, any) {
		m, _ := decode(t, body, "").(map[string]any)
		msg, _ := m["message"].(string)
		return msg, m["reason"]
	}
	gotMsg, gotReason := status(got)
	wantMsg, wantReason := status(want)
	if gotCode != 503 || wantCode != 503 || gotReason != wantReason || !strings.Contains(gotMsg, "is stale") || !strings.Contains(wantMsg, "is stale") {
		t.Errorf("stale: fast path %d %s, library %d %s; want the same 503", gotCode, got, wantCode, want)
	}
}

func fetch(t *testing.T, url, accept string) (int, []byte) {
	t.Helper()
	code, _, body := fetchResponse(t, url, accept)
	return code, body
}

// fetchResponse is fetch that also returns the response's header.
func fetchResponse(t *testing.T, url, accept string) (int, http.Header, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// decode parses a JSON answer into generic values (YAML and protobuf
// answers are compared byte for byte).
func decode(t *testing.T, body []byte, accept string) any {
	t.Helper()
	if accept == "application/yaml" || strings.Contains(accept, "protobuf") {
		return string(body)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	return v
}

// TestFastPathCompressesAndAuditsAsTheLibrary: an answer larger than the library's
// threshold is gzipped for a client that accepts gzip, on the fast path as on the library's
// chain (and a small one is not), and with an audit policy at level RequestResponse the
// audit event of a fast-path answer holds the answer, as the library's does.
func TestFastPathCompressesAndAuditsAsTheLibrary(t *testing.T) {
	fill := func(emb *source.Embedded) {
		fillClientData(emb)
		for i := range 2000 {
			lbls := labels.FromStrings("__name__", "redis_list_length", "namespace", "big", "queue", fmt.Sprintf("queue-%04d", i))
			if err := emb.AppendSeries(lbls, []source.Sample{{T: t0.Add(-time.Minute).UnixMilli(), V: float64(i)}, {T: t0.UnixMilli(), V: float64(i)}}); err != nil {
				panic(err)
			}
		}
	}
	dir := t.TempDir()
	policyFile, auditLog := filepath.Join(dir, "audit-policy.yaml"), filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policyFile, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, clientRules, fill, nil)
	h.options = func(o *server.Options) {
		o.Adapter.Audit.PolicyFile, o.Adapter.Audit.LogOptions.Path = policyFile, auditLog
	}
	h.url = h.serve(t, false)
	waitFor(t, 60*time.Second, "adapter ready", func() bool { return h.loop.Ready() && h.get(h.url, "/readyz") == nil })
	library := h.serve(t, true)

	get := func(url string) (http.Header, []byte) {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json, */*")
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
		}
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		return resp.Header, body
	}
	const base = "/apis/external.metrics.k8s.io/v1beta1/namespaces/"
	for _, c := range []struct {
		ns   string
		gzip bool
	}{{"big", true}, {"a", false}} {
		fastHeader, fast := get(h.url + base + c.ns + "/queue_depth")
		libHeader, lib := get(library + base + c.ns + "/queue_depth")
		if got, want := fastHeader.Get("Content-Encoding"), libHeader.Get("Content-Encoding"); got != want || (got == "gzip") != c.gzip {
			t.Errorf("namespace %s: Content-Encoding %q on the fast path, %q on the library's chain, want gzip %v", c.ns, got, want, c.gzip)
		}
		if c.gzip && fastHeader.Get("Vary") != "Accept-Encoding" {
			t.Errorf("namespace %s: Vary %q", c.ns, fastHeader.Get("Vary"))
		}
		if !reflect.DeepEqual(decode(t, fast, "application/json"), decode(t, lib, "application/json")) {
			t.Errorf("namespace %s: the answers differ", c.ns)
		}
	}

	// The audit log: the fast-path answer's event holds the answer.
	waitFor(t, 10*time.Second, "the fast-path answer audited with its body", func() bool {
		b, _ := os.ReadFile(auditLog)
		for line := range strings.SplitSeq(string(b), "\n") {
			var ev struct {
				Stage          string          `json:"stage"`
				RequestURI     string          `json:"requestURI"`
				ResponseObject json.RawMessage `json:"responseObject"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Stage == "ResponseComplete" && ev.RequestURI == base+"a/queue_depth" {
				return strings.Contains(string(ev.ResponseObject), `"ExternalMetricValueList"`) && strings.Contains(string(ev.ResponseObject), `"orders"`)
			}
		}
		return false
	})
}
