package shadow

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
)

// flatEvaluator returns an evaluator with one reactive strategy at target 1,
// 60 s step and sync, no start-up delay: one tick per minute, the HPA sees
// the previous minute's load, so replicas = ceil(load of the previous sample).
func flatEvaluator(t *testing.T, windows []time.Duration, resolution time.Duration) *Evaluator {
	t.Helper()
	ev, err := NewEvaluator(Config{
		Capacity:   1,
		HPA:        hpa.Config{MaxReplicas: 100, SyncPeriod: time.Minute},
		Step:       time.Minute,
		Windows:    windows,
		Resolution: resolution,
	}, []Strategy{{Name: "reactive", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestWindowArithmetic feeds a load of 2 for 90 minutes, then 5 for 30:
// the first tick carrying the jump is under-provisioned (the HPA sees the
// jump one tick later; the pods are ready at once), every other tick runs
// exactly the pods it needs. Window sums are checked against hand counts.
func TestWindowArithmetic(t *testing.T) {
	ev := flatEvaluator(t, []time.Duration{10 * time.Minute, time.Hour, 2 * time.Hour}, time.Minute)
	const start = 1_800_000_000 // a whole hour
	for i := range 121 {
		v := 2.0
		if i > 90 {
			v = 5
		}
		if err := ev.Observe(start+int64(i)*60, v); err != nil {
			t.Fatal(err)
		}
	}
	s := ev.Summary()
	if want := int64(start + 120*60); s.End != want {
		t.Fatalf("end %d, want %d", s.End, want)
	}
	st := s.Strategies[0]
	// Ticks k = 0..119 start at start+60k and carry sample k+1's load.
	// Tick 90 carries load 5 (sample 91) while 2 pods run: under-provisioned.
	// Sync at tick 91 sees sample 91 (5) and scales to 5; ticks 91..119 run 5.
	type want struct {
		window          string
		minutes, podMin float64
		under           float64
		actions         int
	}
	for i, w := range []want{
		{"10m", 10, 10 * 5, 0, 0},
		{"1h", 60, 29*5 + 31*2, 1, 1},
		{"2h", 120, 29*5 + 91*2, 1, 1},
	} {
		got := st.Windows[i]
		if got.Window != w.window || got.ScoredMinutes != w.minutes || got.PodMinutes != w.podMin ||
			got.UnderProvisionedMinutes != w.under || got.ScalingActions != w.actions {
			t.Errorf("window %s: got %+v, want %+v", w.window, got, w)
		}
	}
	if st.Replicas != 5 {
		t.Errorf("replicas now %d, want 5", st.Replicas)
	}
	// The totals count everything (ScoreFrom 0).
	if st.Total.PodMinutes != 29*5+91*2 || st.Total.ScalingActions != 1 {
		t.Errorf("total %+v", st.Total)
	}
	// Reactive forecast error: the forecast one horizon (5 min) ago vs the actual;
	// after the jump the 5 evaluations at 5 each miss by 3.
	if e := st.Windows[0]; e.Evaluations == 0 {
		t.Errorf("no forecast evaluations in the 10m window")
	}
}

// TestWindowForgetsOldBuckets checks that the bucket ring reuses slots: a
// window longer than the ring's history holds only the last ring's worth.
func TestWindowForgetsOldBuckets(t *testing.T) {
	ev := flatEvaluator(t, []time.Duration{30 * time.Minute}, 5*time.Minute)
	for i := range 24 * 60 {
		if err := ev.Observe(int64(1_800_000_000+i*60), 3); err != nil {
			t.Fatal(err)
		}
	}
	// The day's last tick starts at 23:58 and ends at 23:59; the window starts
	// at the first whole 5-minute bucket inside the last 30 minutes, 23:30.
	w := ev.Summary().Strategies[0].Windows[0]
	if w.ScoredMinutes != 29 || w.PodMinutes != 87 {
		t.Fatalf("30m window after a day: %+v, want 29 minutes and 87 pod-minutes", w)
	}
	if tot := ev.Summary().Strategies[0].Total; tot.ScoredMinutes != 24*60-1 {
		t.Fatalf("total scored minutes %v, want %v", tot.ScoredMinutes, 24*60-1)
	}
}

// TestCostAccountingByHand: 2 pods for an hour at $0.5 then 2 pods at $2
// for half an hour: dollars 2*0.5 + 2*2*0.5 = 3.
func TestCostAccountingByHand(t *testing.T) {
	ev := flatEvaluator(t, []time.Duration{time.Hour, 2 * time.Hour}, time.Minute)
	const start = 1_800_000_000
	if err := ev.ObservePrice(start, 0.5); err != nil {
		t.Fatal(err)
	}
	for i := range 91 {
		ts := int64(start + i*60)
		if i == 60 {
			if err := ev.ObservePrice(ts, 2); err != nil {
				t.Fatal(err)
			}
		}
		if err := ev.Observe(ts, 2); err != nil {
			t.Fatal(err)
		}
	}
	st := ev.Summary().Strategies[0]
	if got := st.Windows[1].Dollars; math.Abs(got-3) > 1e-9 {
		t.Errorf("dollars over 90 minutes = %v, want 3", got)
	}
	// The last hour: 30 minutes at 0.5 and 30 at 2, 2 pods: 0.5 + 2 = 2.5.
	if got := st.Windows[0].Dollars; math.Abs(got-2.5) > 1e-9 {
		t.Errorf("dollars over the last hour = %v, want 2.5", got)
	}
	if err := ev.ObservePrice(start, 1); err == nil {
		t.Error("a price from the past was accepted")
	}
	if err := ev.Observe(start, 1); err == nil {
		t.Error("a sample from the past was accepted")
	}
}

func TestCostWeightedStrategyServesWeightedDemand(t *testing.T) {
	ev, err := NewEvaluator(Config{Capacity: 10, HPA: hpa.Config{MaxReplicas: 100}, Step: time.Minute},
		[]Strategy{{Name: "cw", Settings: forecast.Settings{Model: forecast.ModelReactive}, Cost: &costParams}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ev.ObservePrice(0, 2); err != nil {
		t.Fatal(err)
	}
	// Reference 1.5 (configured), price 2: u = 0.7*sqrt(4/3); V = 70/(10u); served V*capacity.
	if err := ev.Observe(60, 70); err != nil {
		t.Fatal(err)
	}
	u := 0.7 * math.Sqrt(2/1.5)
	if got, want := ev.Summary().Strategies[0].Served, 70/(10*u)*10; math.Abs(got-want) > 1e-9 {
		t.Fatalf("served %v, want %v", got, want)
	}
	if tgt := ev.Summary().Strategies[0].Target; tgt != 1 {
		t.Fatalf("cost-weighted target %v, want 1", tgt)
	}
}

func TestNewEvaluatorRejects(t *testing.T) {
	reactive := forecast.Settings{Model: forecast.ModelReactive}
	for name, tc := range map[string]struct {
		cfg Config
		st  []Strategy
	}{
		"no strategies":   {Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 1}, Step: time.Minute}, nil},
		"zero capacity":   {Config{HPA: hpa.Config{MaxReplicas: 1}, Step: time.Minute}, []Strategy{{Name: "r", Settings: reactive, Target: 1}}},
		"zero step":       {Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 1}}, []Strategy{{Name: "r", Settings: reactive, Target: 1}}},
		"repeated name":   {Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 1}, Step: time.Minute}, []Strategy{{Name: "r", Settings: reactive, Target: 1}, {Name: "r", Settings: reactive, Target: 1}}},
		"zero target":     {Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 1}, Step: time.Minute}, []Strategy{{Name: "r", Settings: reactive}}},
		"bad cost":        {Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 1}, Step: time.Minute}, []Strategy{{Name: "r", Settings: reactive, Cost: &badCost}}},
		"unknown model":   {Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 1}, Step: time.Minute}, []Strategy{{Name: "r", Settings: forecast.Settings{Model: "magic"}, Target: 1}}},
		"negative window": {Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 1}, Step: time.Minute, Windows: []time.Duration{-time.Hour}}, []Strategy{{Name: "r", Settings: reactive, Target: 1}}},
	} {
		if _, err := NewEvaluator(tc.cfg, tc.st); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

var (
	costParams = costParamsWithReference(1.5)
	badCost    = costParamsWithReference(-1)
)

func TestMetricsAndScrapeRoundTrip(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 100, SyncPeriod: time.Minute}, Step: time.Minute, Resolution: time.Minute},
		[]Strategy{
			{Name: "reactive", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 0.5},
			{Name: "hot", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 1},
		}, m)
	if err != nil {
		t.Fatal(err)
	}
	id := SeriesID{Metric: "rps", Namespace: "shop", Series: `service="cart"`}
	if err := set.ObservePrice(id, 1_800_000_000, 0.5, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 180 {
		if err := set.Observe(id, int64(1_800_000_000+i*60), 4); err != nil {
			t.Fatal(err)
		}
	}
	sums := set.Publish()
	if len(sums) != 1 || sums[0].Metric != "rps" {
		t.Fatalf("summaries %+v", sums)
	}
	if got := testutil.ToFloat64(m.replicas.WithLabelValues("rps", "shop", `service="cart"`, "reactive")); got != 8 {
		t.Errorf("reactive replicas metric %v, want 8 (load 4 at target 0.5)", got)
	}
	if got := testutil.ToFloat64(m.podMinutes.WithLabelValues("rps", "shop", `service="cart"`, "hot", "1h")); got != 60*4 {
		t.Errorf("hot pod-minutes over 1h %v, want 240", got)
	}
	if got := testutil.ToFloat64(m.dollars.WithLabelValues("rps", "shop", `service="cart"`, "hot", "1h")); math.Abs(got-4*0.5) > 1e-9 {
		t.Errorf("hot dollars over 1h %v, want 2 (4 pods for an hour at $0.5)", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 2+5*2*3 {
		t.Errorf("gathered %d series (%v), want %d", n, err, 2+5*2*3)
	}
	// The text exposition parses back into the same figures.
	srv := httptest.NewServer(promhttpHandler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	back, err := SummariesFromMetrics(resp.Body, []string{"1d", "7d"})
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || len(back[0].Strategies) != 2 {
		t.Fatalf("scraped %+v", back)
	}
	hot := back[0].Strategies[0] // sorted: hot, reactive
	if hot.Name != "hot" || hot.Windows[0].PodMinutes != sums[0].Strategies[1].Windows[1].PodMinutes {
		t.Errorf("scraped hot %+v, want pod-minutes %v", hot, sums[0].Strategies[1].Windows[1].PodMinutes)
	}
	v := Judge(back[0])
	if len(v) != 2 || v[0].Best != "hot" || v[0].Reference != "reactive" || v[0].By != "dollars" || math.Abs(v[0].Saving-0.5) > 1e-9 ||
		v[0].Safest != "hot" || v[0].SafestExtraCost != 0 {
		t.Errorf("verdicts %+v, want hot saving 50%% of dollars against reactive", v)
	}
	// The JSON endpoint.
	rec := httptest.NewRecorder()
	set.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/shadow", nil))
	var rep Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || len(rep.Series) != 1 || len(rep.Verdicts) != 1 {
		t.Fatalf("JSON report %q: %v", rec.Body.String(), err)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil || !strings.Contains(b.String(), "better: hot") {
		t.Errorf("table %q (%v) lacks the verdict", b.String(), err)
	}
	set.Forget(id)
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("%d series left after Forget", n)
	}
}

func TestWindowLabel(t *testing.T) {
	for s, want := range map[float64]string{3600: "1h", 86400: "1d", 7 * 86400: "7d", 14 * 86400: "2w", 5400: "90m", 61: "61s"} {
		if got := WindowLabel(s); got != want {
			t.Errorf("WindowLabel(%v) = %q, want %q", s, got, want)
		}
	}
}

// TestSetConcurrentSeries feeds several series from their own goroutines
// (as the serving loop does) while summaries are read; run with -race.
func TestSetConcurrentSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 100}, Step: time.Minute},
		[]Strategy{{Name: "reactive", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 0.5}}, m)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for s := range 4 {
		go func() {
			id := SeriesID{Metric: "rps", Namespace: "ns", Series: string(rune('a' + s))}
			for i := range 200 {
				if err := set.Observe(id, int64(1_800_000_000+60*i), float64(s+1)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 20 {
		set.Publish()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	sums := set.Publish()
	if len(sums) != 4 {
		t.Fatalf("%d series, want 4", len(sums))
	}
	for i, s := range sums {
		if want := int32(2 * (i + 1)); s.Strategies[0].Replicas != want {
			t.Errorf("series %s: %d replicas, want %d", s.Series, s.Strategies[0].Replicas, want)
		}
	}
	set.ForgetAll()
	if n, _ := testutil.GatherAndCount(reg); n != 0 || len(set.Summaries()) != 0 {
		t.Errorf("after ForgetAll: %d metric series, %d summaries", n, len(set.Summaries()))
	}
}

// TestMetricNamesAreDocumented checks that the registered metric names are
// exactly the foresight_shadow_* names of docs/metrics.md.
func TestMetricNamesAreDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(needs.Root(t), "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, f := range strings.FieldsFunc(string(doc), func(r rune) bool {
		return r != '_' && (r < 'a' || r > 'z')
	}) {
		if strings.HasPrefix(f, "foresight_shadow_") {
			documented[f] = true
		}
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Update(SeriesID{Metric: "m", Namespace: "n", Series: "s"}, Summary{Strategies: []StrategySummary{{Name: "x", Windows: []Window{{Window: "1h", Seconds: 3600}}}}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, mf := range mfs {
		registered[mf.GetName()] = true
		if !documented[mf.GetName()] {
			t.Errorf("%s is not in docs/metrics.md", mf.GetName())
		}
	}
	for n := range documented {
		if !registered[n] {
			t.Errorf("docs/metrics.md names %s, which is not registered", n)
		}
	}
}

// TestJudge checks the verdict on hand-made figures: the cheapest strategy
// at no more under-provisioned minutes than reactive wins; a cheaper but
// less safe one does not; the safest is named with its extra cost.
func TestJudge(t *testing.T) {
	win := func(pod, under float64) []Window {
		return []Window{{Window: "1d", Figures: Figures{PodMinutes: pod, UnderProvisionedMinutes: under}}}
	}
	s := Summary{Strategies: []StrategySummary{
		{Name: "auto", Windows: win(900, 10)},
		{Name: "reactive", Windows: win(1000, 12)},
		{Name: "hot", Windows: win(700, 30)},
		{Name: "careful", Windows: win(1200, 1)},
	}}
	v := Judge(s)
	if len(v) != 1 {
		t.Fatalf("verdicts %+v", v)
	}
	want := Verdict{Window: "1d", Best: "auto", Reference: "reactive", By: "pod-minutes", Saving: 0.1, Safest: "careful", SafestExtraCost: 1200.0/900 - 1}
	if v[0].Best != want.Best || v[0].Reference != want.Reference || v[0].By != want.By || v[0].Safest != want.Safest ||
		math.Abs(v[0].Saving-want.Saving) > 1e-12 || math.Abs(v[0].SafestExtraCost-want.SafestExtraCost) > 1e-12 {
		t.Errorf("verdict %+v, want %+v", v[0], want)
	}
}
