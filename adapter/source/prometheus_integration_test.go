//go:build integration

package source_test

import (
	"context"
	"encoding/pem"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/internal/promclient"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	k8slabels "k8s.io/apimachinery/pkg/labels"
)

// traceFixture backfills two real traces into namespace shop (services a, b)
// and a third copy into namespace other, all ending at end.
type traceFixture struct {
	srv  *promtest.Server
	end  time.Time
	a, b []source.Sample
}

func startTraces(t *testing.T) *traceFixture {
	t.Helper()
	end := time.Now().Add(-time.Hour).Truncate(time.Minute)
	a := promtest.ShiftToEnd(promtest.LoadTrace(t, "crane-input1.csv"), end)
	b := promtest.ShiftToEnd(promtest.LoadTrace(t, "crane-input2.csv"), end)
	other := make([]source.Sample, len(a))
	for i, s := range a {
		other[i] = source.Sample{T: s.T, V: s.V * 2}
	}
	srv := promtest.StartPrometheus(t, promtest.Options{
		// Shorter than the traces' 60s spacing: a range query at step 60s
		// returns exactly the stored samples, gaps stay gaps.
		LookbackDelta: 30 * time.Second,
		Series: []promtest.Series{
			{Name: "trace_load", Labels: map[string]string{"namespace": "shop", "service": "a"}, Samples: a},
			{Name: "trace_load", Labels: map[string]string{"namespace": "shop", "service": "b"}, Samples: b},
			{Name: "trace_load", Labels: map[string]string{"namespace": "other", "service": "a"}, Samples: other},
		},
	})
	return &traceFixture{srv: srv, end: end, a: a, b: b}
}

func TestPrometheusIntegration(t *testing.T) {
	fx := startTraces(t)
	ctx := context.Background()

	t.Run("chunked range queries return exactly the trace", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		p, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: fx.srv.URL}, MaxPointsPerQuery: 1000}, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.UnixMilli(min(fx.a[0].T, fx.b[0].T))
		got, err := p.QueryRange(ctx, `trace_load{namespace="shop"}`, start, fx.end, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("got %d series, want 2", len(got))
		}
		for i, want := range [][]source.Sample{fx.a, fx.b} {
			s := got[i].Samples
			if len(s) != len(want) {
				t.Fatalf("series %s: %d samples, trace has %d", got[i].Labels, len(s), len(want))
			}
			for j := range want {
				if s[j] != want[j] {
					t.Fatalf("series %s sample %d: %+v, trace %+v", got[i].Labels, j, s[j], want[j])
				}
			}
		}
		points := int(fx.end.Sub(start)/time.Minute) + 1
		wantChunks := (points + 999) / 1000
		h, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var count uint64
		for _, mf := range h {
			if mf.GetName() == "foresight_source_query_duration_seconds" {
				for _, m := range mf.GetMetric() {
					count += m.GetHistogram().GetSampleCount()
				}
			}
		}
		if int(count) != wantChunks {
			t.Errorf("%d range queries for %d points, want %d chunks of 1000", count, points, wantChunks)
		}
	})

	t.Run("instant query", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		p, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: fx.srv.URL}}, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Query(ctx, `trace_load{namespace="shop"}`, fx.end)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 || res[0].Samples[0] != fx.a[len(fx.a)-1] || res[1].Samples[0] != fx.b[len(fx.b)-1] {
			t.Errorf("instant query at the trace end: %+v", res)
		}
		if _, err := p.Query(ctx, `trace_load{`, fx.end); err == nil {
			t.Error("invalid instant query succeeded")
		}
		m, err := source.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(m.Errors.WithLabelValues(source.KindInstant)); got != 1 {
			t.Errorf("instant query errors = %v, want 1", got)
		}
	})

	t.Run("history loads once then fetches only new steps", func(t *testing.T) {
		p, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: fx.srv.URL}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		sel, err := k8slabels.Parse("service in (a)")
		if err != nil {
			t.Fatal(err)
		}
		ms, err := source.SelectorMatchers("namespace", "shop", sel)
		if err != nil {
			t.Fatal(err)
		}
		q, err := source.RenderQuery(`trace_load{<<.LabelMatchers>>}`, ms)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{Source: p}
		window := 14 * 24 * time.Hour
		h, err := source.NewHistory(rec, source.HistoryOptions{Query: q, Window: window, Step: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		now := fx.end.Add(-30 * time.Minute)
		ups, err := h.Update(ctx, now.Add(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(ups) != 1 || !ups[0].New || ups[0].Labels.Get("service") != "a" || ups[0].Labels.Get("namespace") != "shop" {
			t.Fatalf("first update %+v, want the new series shop/a only", ups)
		}
		if n := len(rec.take()); n != 14 {
			t.Errorf("initial load took %d range queries, want 14 (one per day)", n)
		}
		var want []source.Sample
		for _, s := range fx.a {
			if s.T > now.Add(-window).UnixMilli() && s.T <= now.UnixMilli() {
				want = append(want, s)
			}
		}
		got := h.Samples(ups[0].Key)
		if len(got) != len(want) {
			t.Fatalf("window holds %d samples, trace has %d", len(got), len(want))
		}
		for i := range want {
			if got[i].T != want[i].T || float32(got[i].V) != float32(want[i].V) {
				t.Fatalf("window sample %d: %+v, trace %+v", i, got[i], want[i])
			}
		}

		ups, err = h.Update(ctx, fx.end)
		if err != nil {
			t.Fatal(err)
		}
		ranges := rec.take()
		if len(ranges) != 1 || !ranges[0][0].Equal(now.Add(time.Minute)) || !ranges[0][1].Equal(fx.end) {
			t.Errorf("incremental update queried %v, want only [%v, %v]", ranges, now.Add(time.Minute), fx.end)
		}
		var newWant []source.Sample
		for _, s := range fx.a {
			if s.T > now.UnixMilli() {
				newWant = append(newWant, s)
			}
		}
		if len(ups) != 1 || ups[0].New || len(ups[0].Samples) != len(newWant) {
			t.Fatalf("incremental update %+v, want %d new samples", ups, len(newWant))
		}
		for i := range newWant {
			if ups[0].Samples[i] != newWant[i] {
				t.Fatalf("new sample %d: %+v, trace %+v", i, ups[0].Samples[i], newWant[i])
			}
		}
	})

	t.Run("namespace is enforced against the real server", func(t *testing.T) {
		p, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: fx.srv.URL}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, sel := range []string{"", "service=a", "service in (a,b)", "!missing"} {
			s, err := k8slabels.Parse(sel)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := source.SelectorMatchers("namespace", "other", s)
			if err != nil {
				t.Fatal(err)
			}
			q, err := source.RenderQuery(`sum by (namespace, service) (trace_load{<<.LabelMatchers>>})`, ms)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.QueryRange(ctx, q, fx.end.Add(-time.Hour), fx.end, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || res[0].Labels.Get("namespace") != "other" {
				t.Errorf("selector %q in namespace other returned %v", sel, res)
			}
		}
		// A hostile value is a literal: it matches nothing.
		ms, err := source.RequirementMatchers("namespace", "other", []source.Requirement{{Key: "service", Operator: "=", Values: []string{`a"} or trace_load{namespace="shop`}}})
		if err != nil {
			t.Fatal(err)
		}
		q, err := source.RenderQuery(`trace_load{<<.LabelMatchers>>}`, ms)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := p.QueryRange(ctx, q, fx.end.Add(-time.Hour), fx.end, time.Minute); err != nil || len(res) != 0 {
			t.Errorf("hostile selector returned %v, %v; want nothing", res, err)
		}
	})

	t.Run("TLS, bearer token file and tenant header", func(t *testing.T) {
		target, err := url.Parse(fx.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		var seen atomic.Int64
		proxy := httputil.NewSingleHostReverseProxy(target)
		front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer s3cret" || r.Header.Get("X-Scope-OrgID") != "tenant-1" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			seen.Add(1)
			proxy.ServeHTTP(w, r)
		}))
		defer front.Close()
		dir := t.TempDir()
		ca := filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		token := filepath.Join(dir, "token")
		if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := source.NewPrometheus(source.PrometheusConfig{
			Config: promclient.Config{Address: front.URL, CAFile: ca, BearerTokenFile: token, Headers: map[string]string{"X-Scope-OrgID": "tenant-1"}},
		}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.QueryRange(ctx, `trace_load{namespace="shop",service="b"}`, fx.end.Add(-10*time.Minute), fx.end, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || seen.Load() != 1 {
			t.Errorf("through TLS proxy: %d series, %d authorized requests", len(res), seen.Load())
		}
		// Without the CA the server certificate is refused.
		bad, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: front.URL, BearerTokenFile: token}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bad.QueryRange(ctx, `trace_load`, fx.end.Add(-time.Minute), fx.end, time.Minute); err == nil {
			t.Error("query without the CA succeeded")
		}
	})

	t.Run("stop and start on the same data and port", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		p, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: fx.srv.URL}, Timeout: 5 * time.Second}, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		q := `trace_load{namespace="shop",service="a"}`
		fx.srv.Stop()
		if _, err := p.QueryRange(ctx, q, fx.end.Add(-time.Hour), fx.end, time.Minute); err == nil {
			t.Fatal("query with Prometheus stopped succeeded")
		}
		m, err := source.NewMetrics(reg) // shares the registered collectors
		if err != nil {
			t.Fatal(err)
		}
		if got := testutil.ToFloat64(m.Errors.WithLabelValues(source.KindRange)); got != 1 {
			t.Errorf("foresight_source_query_errors_total{kind=range} = %v, want 1", got)
		}
		fx.srv.Start()
		res, err := p.QueryRange(ctx, q, fx.end.Add(-time.Hour), fx.end, time.Minute)
		if err != nil {
			t.Fatalf("after restart: %v", err)
		}
		if len(res) != 1 || len(res[0].Samples) != 61 || math.Abs(res[0].Samples[60].V-fx.a[len(fx.a)-1].V) != 0 {
			t.Errorf("after restart: %+v", res)
		}
	})
}

// recorder wraps a Source and records the ranges queried.
type recorder struct {
	source.Source
	mu     sync.Mutex
	ranges [][2]time.Time
}

func (r *recorder) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]source.Series, error) {
	r.mu.Lock()
	r.ranges = append(r.ranges, [2]time.Time{start, end})
	r.mu.Unlock()
	return r.Source.QueryRange(ctx, q, start, end, step)
}

func (r *recorder) take() [][2]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.ranges
	r.ranges = nil
	return out
}

// BenchmarkHistoryLoadFromPrometheus measures loading 14 days at 1m of the two
// shop series (crane-input1, crane-input2) from a real Prometheus, one query
// per day, and one incremental update of the next minute.
func BenchmarkHistoryLoadFromPrometheus(b *testing.B) {
	end := time.Now().Add(-time.Hour).Truncate(time.Minute)
	srv := promtest.StartPrometheus(b, promtest.Options{Series: []promtest.Series{
		{Name: "trace_load", Labels: map[string]string{"namespace": "shop", "service": "a"},
			Samples: promtest.ShiftToEnd(promtest.LoadTrace(b, "crane-input1.csv"), end)},
		{Name: "trace_load", Labels: map[string]string{"namespace": "shop", "service": "b"},
			Samples: promtest.ShiftToEnd(promtest.LoadTrace(b, "crane-input2.csv"), end)},
	}})
	p, err := source.NewPrometheus(source.PrometheusConfig{Config: promclient.Config{Address: srv.URL}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("InitialLoad14d", func(b *testing.B) {
		for b.Loop() {
			h, err := source.NewHistory(p, source.HistoryOptions{Query: `trace_load{namespace="shop"}`, Window: 14 * 24 * time.Hour, Step: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			if ups, err := h.Update(ctx, end.Add(-time.Minute)); err != nil || len(ups) != 2 {
				b.Fatalf("%v %v", ups, err)
			}
		}
	})
	b.Run("IncrementalMinute", func(b *testing.B) {
		h, err := source.NewHistory(p, source.HistoryOptions{Query: `trace_load{namespace="shop"}`, Window: 14 * 24 * time.Hour, Step: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		now := end.Add(-7 * 24 * time.Hour)
		if _, err := h.Update(ctx, now); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			now = now.Add(time.Minute) // one new step per update
			if _, err := h.Update(ctx, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
