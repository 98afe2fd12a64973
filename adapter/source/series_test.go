package source

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/internal/promclient"
)

// seriesAPI serves Prometheus' series, label values and label names APIs over series, with
// their match[] selectors and limit, and counts its requests by path.
func seriesAPI(t *testing.T, series []labels.Labels, requests map[string]*atomic.Int64) *httptest.Server {
	t.Helper()
	matching := func(r *http.Request) []labels.Labels {
		var out []labels.Labels
		for _, sel := range r.Form["match[]"] {
			ms, err := ParseSeriesSelector(sel)
			if err != nil {
				t.Errorf("%s: match[] %q: %v", r.URL.Path, sel, err)
				return nil
			}
			for _, s := range series {
				if Match(s, ms) {
					out = append(out, s)
				}
			}
		}
		return out
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		if c := requests[r.URL.Path]; c != nil {
			c.Add(1)
		}
		limit, _ := strconv.Atoi(r.Form.Get("limit"))
		var data any
		switch r.URL.Path {
		case "/api/v1/series":
			var sets []map[string]string
			for _, s := range matching(r) {
				sets = append(sets, s.Map())
			}
			if limit > 0 && len(sets) > limit {
				sets = sets[:limit]
			}
			data = sets
		case "/api/v1/label/__name__/values", "/api/v1/labels":
			seen := map[string]bool{}
			for _, s := range matching(r) {
				if r.URL.Path == "/api/v1/labels" {
					s.Range(func(l labels.Label) { seen[l.Name] = true })
				} else {
					seen[s.Get("__name__")] = true
				}
			}
			vs := []string{}
			for v := range seen {
				vs = append(vs, v)
			}
			slices.Sort(vs)
			data = vs
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data}); err != nil {
			t.Error(err)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestListSeriesPastTheLimit: a selector matching at most MaxListedSeries series is read in
// one series request; one matching more is read as its series names and the label names of
// each (one label set per name, empty values), which is what discovery reads.
func TestListSeriesPastTheLimit(t *testing.T) {
	var series []labels.Labels
	for i := range 2 * MaxListedSeries {
		ns := fmt.Sprintf("ns-%d", i%50)
		switch i % 3 {
		case 0:
			series = append(series, labels.FromStrings("__name__", "http_requests_total", "namespace", ns, "pod", fmt.Sprintf("web-%d", i)))
		case 1:
			series = append(series, labels.FromStrings("__name__", "queue_depth", "namespace", ns, "queue", strconv.Itoa(i)))
		default:
			series = append(series, labels.FromStrings("__name__", "go_goroutines", "job", strconv.Itoa(i)))
		}
	}
	requests := map[string]*atomic.Int64{"/api/v1/series": {}, "/api/v1/label/__name__/values": {}, "/api/v1/labels": {}}
	srv := seriesAPI(t, series, requests)
	p, err := NewPrometheus(PrometheusConfig{Config: promclient.Config{Address: srv.URL}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Unix(1_800_000_000, 0)

	got, err := p.ListSeries(context.Background(), `{namespace!=""}`, end.Add(-time.Hour), end)
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, ls := range got {
		text = append(text, ls.String())
	}
	want := []string{`{__name__="http_requests_total", namespace="", pod=""}`, `{__name__="queue_depth", namespace="", queue=""}`}
	if !slices.Equal(text, want) {
		t.Errorf("past the limit: %d label sets (first %v), want %v", len(text), text[:min(3, len(text))], want)
	}
	if n := requests["/api/v1/labels"].Load(); n != 2 {
		t.Errorf("label names requests: %d, want one per series name (2)", n)
	}

	selector := `{__name__="http_requests_total", namespace="ns-1"}`
	ms, err := ParseSeriesSelector(selector)
	if err != nil {
		t.Fatal(err)
	}
	matching := slices.DeleteFunc(slices.Clone(series), func(s labels.Labels) bool { return !Match(s, ms) })
	got, err = p.ListSeries(context.Background(), selector, end.Add(-time.Hour), end)
	if err != nil || len(got) != len(matching) || !labels.Equal(got[0], matching[0]) {
		t.Errorf("within the limit: %d series (first %v), %v; want the %d series with their values", len(got), got[:min(1, len(got))], err, len(matching))
	}
}
