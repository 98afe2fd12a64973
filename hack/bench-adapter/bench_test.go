package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/loadgen"
)

// The rule file the harness gives foresight must stay valid as the rule
// format evolves, and say what the benchmark claims.
func TestForesightRulesParse(t *testing.T) {
	set := seriesSet{metric: "bench_load", namespaces: 1, perNamespace: 1000, history: 14 * 24 * time.Hour}
	f, err := config.Parse([]byte(foresightRules(set, "auto")), "bench-rules.yaml")
	if err != nil {
		t.Fatalf("foresight rules: %v", err)
	}
	if len(f.Rules) != 1 {
		t.Fatalf("got %d rules, want 1", len(f.Rules))
	}
	r := f.Rules[0]
	if r.Name != "bench_load" || r.Forecast.History != set.history || string(r.Forecast.Model) != "auto" || r.Forecast.Step != time.Minute {
		t.Errorf("rule = %s, history %s, model %s, step %s; want bench_load, %s, auto, 1m", r.Name, r.Forecast.History, r.Forecast.Model, r.Forecast.Step, set.history)
	}
}

// The peer's config must be YAML with one external rule on the same series.
func TestPeerRules(t *testing.T) {
	var cfg struct {
		ExternalRules []struct {
			SeriesQuery  string `json:"seriesQuery"`
			MetricsQuery string `json:"metricsQuery"`
			Name         struct {
				Matches string `json:"matches"`
				As      string `json:"as"`
			} `json:"name"`
			Resources struct {
				Overrides map[string]struct {
					Resource string `json:"resource"`
				} `json:"overrides"`
			} `json:"resources"`
		} `json:"externalRules"`
	}
	if err := yaml.UnmarshalStrict([]byte(peerRules(seriesSet{metric: "bench_load_wide"})), &cfg); err != nil {
		t.Fatalf("peer rules: %v", err)
	}
	if len(cfg.ExternalRules) != 1 {
		t.Fatalf("got %d external rules, want 1", len(cfg.ExternalRules))
	}
	r := cfg.ExternalRules[0]
	if r.Resources.Overrides["namespace"].Resource != "namespace" {
		t.Errorf("the namespace label does not map to the namespace: %+v", r.Resources)
	}
	if r.Name.As != "bench_load_wide" || !strings.HasPrefix(r.SeriesQuery, "bench_load_wide{") || !strings.Contains(r.MetricsQuery, "<<.LabelMatchers>>") {
		t.Errorf("external rule = %+v", r)
	}
}

// writeBlocks must write every series with every minute of its history and
// the samples ahead, each the loadgen value at its time.
func TestWriteBlocksReadBack(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 25, 12, 0, 30, 0, time.UTC)
	sets := []seriesSet{
		{metric: "a", namespaces: 2, perNamespace: 3, history: 2 * time.Hour},
		{metric: "b", namespaces: 1, perNamespace: 2, history: 30 * time.Minute},
	}
	samples, err := writeBlocks(context.Background(), dir, now, 10*time.Minute, sets...)
	if err != nil {
		t.Fatal(err)
	}
	if want := 6*(120+10+1) + 2*(30+10+1); samples != want {
		t.Errorf("wrote %d samples, want %d", samples, want)
	}
	// A read-only DB wants a WAL folder; the block writer writes none.
	if err := os.Mkdir(filepath.Join(dir, "wal"), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := tsdb.OpenDBReadOnly(dir, t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, set := range sets {
		ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", set.metric))
		n := 0
		for ss.Next() {
			n++
			s := ss.At()
			it := s.Iterator(nil)
			count := 0
			var first, last int64
			var firstV float64
			for it.Next() == chunkenc.ValFloat {
				ts, v := it.At()
				if count == 0 {
					first, firstV = ts, v
				}
				last = ts
				count++
			}
			if want := int(set.history/time.Minute) + 10 + 1; count != want {
				t.Errorf("%s: %d samples, want %d", s.Labels(), count, want)
			}
			end := now.Truncate(time.Minute).Add(10 * time.Minute)
			if last != end.UnixMilli() || first != end.Add(-set.history-10*time.Minute).UnixMilli() {
				t.Errorf("%s: samples from %s to %s, want %s to %s", s.Labels(), time.UnixMilli(first).UTC(), time.UnixMilli(last).UTC(), end.Add(-set.history-10*time.Minute), end)
			}
			if firstV <= 0 {
				t.Errorf("%s: first value %g, want a positive load", s.Labels(), firstV)
			}
		}
		if err := ss.Err(); err != nil {
			t.Fatal(err)
		}
		if n != set.series() {
			t.Errorf("%s: %d series, want %d", set.metric, n, set.series())
		}
	}
	// One value checked against the generator.
	ss := q.Select(context.Background(), false, nil,
		labels.MustNewMatcher(labels.MatchEqual, "__name__", "a"),
		labels.MustNewMatcher(labels.MatchEqual, "namespace", "a-ns-1"),
		labels.MustNewMatcher(labels.MatchEqual, "service", "svc-2"))
	if !ss.Next() {
		t.Fatal("series a{namespace=a-ns-1,service=svc-2} missing")
	}
	it := ss.At().Iterator(nil)
	if it.Next() != chunkenc.ValFloat {
		t.Fatal("no sample")
	}
	ts, v := it.At()
	if want := loadgen.Default(102, 1*3+2).At(time.UnixMilli(ts)); v != want {
		t.Errorf("value at %s = %g, want %g", time.UnixMilli(ts).UTC(), v, want)
	}
}

func TestResultQuantilesAndMerge(t *testing.T) {
	a := &result{requests: 500, elapsed: time.Second, adapterCPU: 500 * time.Millisecond}
	b := &result{requests: 500, elapsed: time.Second, failed: 2, firstErr: errors.New("boom")}
	for i := range 1000 {
		d := time.Duration(i+1) * time.Millisecond
		if i%2 == 0 {
			a.lat = append(a.lat, d)
		} else {
			b.lat = append(b.lat, d)
		}
	}
	m := merge(merge(nil, a), b)
	if m.requests != 1000 || m.failed != 2 || m.firstErr == nil || m.elapsed != 2*time.Second {
		t.Errorf("merged = %d requests, %d failed, err %v, %s", m.requests, m.failed, m.firstErr, m.elapsed)
	}
	if got := m.q(0.5); got != 501*time.Millisecond {
		t.Errorf("p50 = %s, want 501ms", got)
	}
	if got := m.q(0.99); got != 991*time.Millisecond {
		t.Errorf("p99 = %s, want 991ms", got)
	}
	if got := m.q(1); got != time.Second {
		t.Errorf("max = %s, want 1s", got)
	}
	if got := m.rate(); got != 500 {
		t.Errorf("rate = %g, want 500", got)
	}
}

// A load phase's requests have no timeout of their own: a request the
// adapter never answers must fail when the phase's guard closes its
// connection, and a cancelled guard must leave the connection alone.
func TestConnGuardFailsHungRequests(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	defer close(release)
	tgt := &target{name: "test", url: srv.URL, tls: srv.Client().Transport.(*http.Transport).TLSClientConfig}

	get := func(cfg *rest.Config, path string) error {
		rt, err := rest.TransportFor(cfg)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: rt}).Get(srv.URL + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("protocol %s, want HTTP/2 as the adapters are asked", resp.Proto)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}

	cfg, guard := tgt.loadConfig()
	if cfg.Timeout != 0 {
		t.Errorf("load clients' timeout = %s, want none, as kube-controller-manager's", cfg.Timeout)
	}
	if err := get(cfg, "/ok"); err != nil {
		t.Fatalf("request before the guard fires: %v", err)
	}
	guard.closeAfter(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- get(cfg, "/hang") }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("hung request succeeded, want an error once the guard closed its connection")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hung request still waiting 20 s after the guard should have closed its connection")
	}

	cfg, guard = tgt.loadConfig()
	if err := get(cfg, "/ok"); err != nil {
		t.Fatalf("request on a new guard: %v", err)
	}
	if !guard.closeAfter(100 * time.Millisecond)() {
		t.Error("cancelling a guard that has not fired reported it had")
	}
	time.Sleep(300 * time.Millisecond)
	if err := get(cfg, "/ok"); err != nil {
		t.Errorf("request after a cancelled guard: %v", err)
	}
	guard.mu.Lock()
	n := len(guard.conns)
	guard.mu.Unlock()
	if n != 1 {
		t.Errorf("guard saw %d connections, want 1 reused", n)
	}
}
