//go:build integration

package source_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/adapter/source/promtest"
	"github.com/foresight-dev/foresight/adapter/source/vmtest"
	"github.com/foresight-dev/foresight/internal/promclient"
	"github.com/spf13/pflag"
)

// vmFixture is a VictoriaMetrics with known series, 60s apart, ending at end:
// vm_load{service="a"} over vmPoints steps, and vm_load{service="gone"},
// which stops vmGoneBefore before end.
type vmFixture struct {
	srv       *vmtest.Server
	end       time.Time
	a, gone   []source.Sample
	goneUntil time.Time
}

const (
	vmPoints     = 600
	vmStep       = time.Minute
	vmGoneBefore = 3 * time.Hour
)

func startVM(t *testing.T, args ...string) *vmFixture {
	t.Helper()
	srv := vmtest.Start(t, args...)
	// Far enough in the past that -search.latencyOffset (30s) plays no part.
	end := time.Now().Add(-time.Hour).Truncate(time.Hour)
	fx := &vmFixture{srv: srv, end: end}
	for i := range vmPoints {
		ts := end.Add(-time.Duration(vmPoints-1-i) * vmStep).UnixMilli()
		// Exact in float32 too (the History's storage).
		fx.a = append(fx.a, source.Sample{T: ts, V: float64(i)*0.5 + 0.25})
		if ts <= end.Add(-vmGoneBefore).UnixMilli() {
			fx.gone = append(fx.gone, source.Sample{T: ts, V: 1000 - float64(i)})
		}
	}
	fx.goneUntil = time.UnixMilli(fx.gone[len(fx.gone)-1].T)
	srv.Import(t, []promtest.Series{
		{Name: "vm_load", Labels: map[string]string{"service": "a"}, Samples: fx.a},
		{Name: "vm_load", Labels: map[string]string{"service": "gone"}, Samples: fx.gone},
	})
	return fx
}

func (fx *vmFixture) start() time.Time { return time.UnixMilli(fx.a[0].T) }

func newVMSource(t *testing.T, cfg source.PrometheusConfig) *source.Prometheus {
	t.Helper()
	p, err := source.NewPrometheus(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func seriesByService(t *testing.T, res []source.Series) map[string][]source.Sample {
	t.Helper()
	out := map[string][]source.Sample{}
	for _, s := range res {
		out[s.Labels.Get("service")] = s.Samples
	}
	return out
}

func sameSamples(t *testing.T, what string, got, want []source.Sample) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d samples, want %d (first got %v, first want %v)", what, len(got), len(want), head(got), head(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: sample %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

func head(s []source.Sample) []source.Sample { return s[:min(len(s), 3)] }

// A range-query point limit on the engine makes chunking necessary: one query
// over the window is refused, and the source's and the History's chunked loads
// return every imported sample, exactly, on its own timestamp.
func TestVictoriaMetricsChunkedHistoryIsComplete(t *testing.T) {
	fx := startVM(t, "-search.maxPointsPerTimeseries=100")
	ctx := context.Background()
	q := `vm_load{service="a"}`

	unchunked := newVMSource(t, source.PrometheusConfig{Config: promclient.Config{Address: fx.srv.URL}, MaxPointsPerQuery: vmPoints})
	if _, err := unchunked.QueryRange(ctx, q, fx.start(), fx.end, vmStep); err == nil || !strings.Contains(err.Error(), "maxPointsPerTimeseries") {
		t.Fatalf("one query of %d points: err = %v, want VictoriaMetrics' point limit", vmPoints, err)
	}

	src := newVMSource(t, source.PrometheusConfig{Config: promclient.Config{Address: fx.srv.URL}, MaxPointsPerQuery: 100})
	res, err := src.QueryRange(ctx, q, fx.start(), fx.end, vmStep)
	if err != nil {
		t.Fatal(err)
	}
	sameSamples(t, "source, chunks of 100", seriesByService(t, res)["a"], fx.a)

	// The History splits the window into chunks of 250 steps, the source
	// each of them into chunks of 100 points.
	h, err := source.NewHistory(src, source.HistoryOptions{Query: q, Window: vmPoints * vmStep, Step: vmStep, ChunkSteps: 250})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := h.Update(ctx, fx.end)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 1 || !ups[0].New {
		t.Fatalf("updates = %+v, want one new series", ups)
	}
	sameSamples(t, "history", h.Samples(ups[0].Key), fx.a)
}

// VictoriaMetrics rounds a range query's start down to a multiple of the step
// (for its response cache) when the query has 50 points or more, so its
// points land on other timestamps than asked for. The source refuses such an
// answer rather than storing values on the wrong timestamps; queries that
// start on a multiple of the step (what History and the serving loop send) and
// an engine run with -search.disableCache get exactly the stored samples.
func TestVictoriaMetricsStepAlignment(t *testing.T) {
	fx := startVM(t)
	ctx := context.Background()
	q := `vm_load{service="a"}`
	src := newVMSource(t, source.PrometheusConfig{Config: promclient.Config{Address: fx.srv.URL}})

	off := fx.start().Add(20 * time.Second)
	_, err := src.QueryRange(ctx, q, off, fx.end, vmStep)
	if err == nil || !strings.Contains(err.Error(), "not on the requested steps") {
		t.Fatalf("query starting 20s past a step: err = %v, want the misaligned-timestamps error", err)
	}

	res, err := src.QueryRange(ctx, q, fx.start(), fx.end, vmStep)
	if err != nil {
		t.Fatal(err)
	}
	sameSamples(t, "aligned start", seriesByService(t, res)["a"], fx.a)

	nocache := startVM(t, "-search.disableCache")
	src = newVMSource(t, source.PrometheusConfig{Config: promclient.Config{Address: nocache.srv.URL}})
	res, err = src.QueryRange(ctx, q, off, nocache.end, vmStep)
	if err != nil {
		t.Fatalf("-search.disableCache: %v", err)
	}
	got := seriesByService(t, res)["a"]
	if len(got) != vmPoints-1 {
		t.Fatalf("-search.disableCache, start 20s past a step: %d samples, want %d", len(got), vmPoints-1)
	}
	for i, s := range got {
		// At off+k*step the newest sample is the one 20s before.
		want := source.Sample{T: off.Add(time.Duration(i) * vmStep).UnixMilli(), V: nocache.a[i].V}
		if s != want {
			t.Fatalf("-search.disableCache: sample %d = %v, want %v", i, s, want)
		}
	}
}

// A series that stops is not carried forward for ever: VictoriaMetrics has no
// staleness markers, but its points end within a few steps of the last
// sample, so the adapter's staleness limit (staleAfter) applies to it as to
// Prometheus' series.
func TestVictoriaMetricsStoppedSeriesEnds(t *testing.T) {
	fx := startVM(t)
	src := newVMSource(t, source.PrometheusConfig{Config: promclient.Config{Address: fx.srv.URL}, MaxPointsPerQuery: 250})
	h, err := source.NewHistory(src, source.HistoryOptions{Query: "vm_load", Window: vmPoints * vmStep, Step: vmStep})
	if err != nil {
		t.Fatal(err)
	}
	ups, err := h.Update(context.Background(), fx.end)
	if err != nil {
		t.Fatal(err)
	}
	var gone []source.Sample
	for _, u := range ups {
		if lb, _ := h.Labels(u.Key); lb.Get("service") == "gone" {
			gone = h.Samples(u.Key)
		}
	}
	if len(gone) < len(fx.gone) {
		t.Fatalf("stopped series: %d samples, want at least the %d imported", len(gone), len(fx.gone))
	}
	sameSamples(t, "stopped series up to its end", gone[:len(fx.gone)], fx.gone)
	last := time.UnixMilli(gone[len(gone)-1].T)
	if extra := last.Sub(fx.goneUntil); extra > 5*time.Minute {
		t.Fatalf("stopped series carried %v past its last sample (until %v), want at most 5m", extra, last)
	}
	if age := fx.end.Sub(last); age < 2*time.Hour {
		t.Fatalf("stopped series' newest point is %v old, want older than a staleAfter of 2h", age)
	}
}

// A tenant gateway in front of VictoriaMetrics, as Mimir's or Thanos'
// (X-Scope-OrgID) and VictoriaMetrics cluster's /select/<accountID>/prometheus
// path: the source sends the headers of --prometheus-header and keeps the
// path of --prometheus-url.
func TestVictoriaMetricsTenantHeaderAndPath(t *testing.T) {
	fx := startVM(t)
	target, err := url.Parse(fx.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Scope-OrgID") != "team-a" {
			http.Error(w, "no tenant: X-Scope-OrgID", http.StatusUnauthorized)
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/select/7/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		// Single-node VictoriaMetrics serves the API under /prometheus/ too.
		r.URL.Path = "/" + rest
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(gw.Close)
	ctx := context.Background()
	q := `vm_load{service="a"}`

	anon := newVMSource(t, source.PrometheusConfig{Config: promclient.Config{Address: gw.URL + "/select/7/prometheus"}})
	if _, err := anon.QueryRange(ctx, q, fx.start(), fx.end, vmStep); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without the tenant header: err = %v, want the gateway's refusal", err)
	}
	// Configured with the flags of foresight-adapter serve.
	var cfg source.PrometheusConfig
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse([]string{"--prometheus-url=" + gw.URL + "/select/7/prometheus", "--prometheus-header=X-Scope-OrgID=team-a"}); err != nil {
		t.Fatal(err)
	}
	src := newVMSource(t, cfg)
	res, err := src.QueryRange(ctx, q, fx.start(), fx.end, vmStep)
	if err != nil {
		t.Fatal(err)
	}
	sameSamples(t, "through the tenant gateway", seriesByService(t, res)["a"], fx.a)
}

// VictoriaMetrics answers a range query with a step under
// -search.maxStepForPointsAdjustment (1m) by repeating, on the points within
// -search.latencyOffset (30s) of now, the value before them: those points
// are not the stored samples. The serving loop never fetches a step twice, so
// an engine serving the adapter rules with steps under 1m runs with
// -search.latencyOffset=0; steps of 1m and more are not adjusted. (10m here
// instead of 30s, so that the test does not depend on how fast it runs.)
func TestVictoriaMetricsLatencyOffset(t *testing.T) {
	const step = 15 * time.Second
	now := time.Now()
	end := now.Truncate(step)
	var samples []source.Sample
	for ts := end.Add(-40 * time.Minute); !ts.After(end); ts = ts.Add(step) {
		samples = append(samples, source.Sample{T: ts.UnixMilli(), V: float64(len(samples))})
	}
	byTime := map[int64]float64{}
	for _, s := range samples {
		byTime[s.T] = s.V
	}
	series := []promtest.Series{{Name: "vm_recent", Samples: samples}}
	ctx := context.Background()
	query := func(t *testing.T, srv *vmtest.Server, step time.Duration) []source.Sample {
		t.Helper()
		src := newVMSource(t, source.PrometheusConfig{Config: promclient.Config{Address: srv.URL}})
		e := end.Truncate(step)
		res, err := src.QueryRange(ctx, "vm_recent", e.Add(-20*time.Minute), e, step)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || len(res[0].Samples) != int(20*time.Minute/step)+1 {
			t.Fatalf("step %v: %+v, want one series of %d points", step, res, int(20*time.Minute/step)+1)
		}
		return res[0].Samples
	}
	exact := func(t *testing.T, what string, got []source.Sample) {
		t.Helper()
		for _, s := range got {
			if want, ok := byTime[s.T]; !ok || s.V != want {
				t.Fatalf("%s: point at %v is %v, the sample there is %v", what, time.UnixMilli(s.T).UTC(), s.V, want)
			}
		}
	}

	adjusting := vmtest.Start(t, "-search.latencyOffset=10m")
	adjusting.Import(t, series)
	got := query(t, adjusting, step)
	last := got[len(got)-1]
	if last.V == byTime[last.T] {
		t.Fatalf("-search.latencyOffset=10m, step %v: newest point %v is the stored sample; want VictoriaMetrics' repeated older value", step, last)
	}
	exact(t, "-search.latencyOffset=10m, points older than 10m", got[:len(got)-int(10*time.Minute/step)-1])
	exact(t, "-search.latencyOffset=10m, step 1m", query(t, adjusting, time.Minute))

	plain := vmtest.Start(t, "-search.latencyOffset=0")
	plain.Import(t, series)
	exact(t, "-search.latencyOffset=0, step 15s", query(t, plain, step))
}
