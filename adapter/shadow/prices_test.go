package shadow

import (
	"math"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
)

// TestPricesAheadOfSamples: a price history given before the samples (as
// the serving loop gives a namespace's prices when a rule starts) is put in
// force as the samples reach it, exactly as prices interleaved with the
// samples: 2 pods for an hour at $0.5, then half an hour at $2 = $3.
func TestPricesAheadOfSamples(t *testing.T) {
	const start = 1_800_000_000
	ahead := flatEvaluator(t, []time.Duration{time.Hour, 2 * time.Hour}, time.Minute)
	for _, p := range []pricePoint{{start, 0.5}, {start + 3600, 2}} {
		if err := ahead.ObservePrice(p.TS, p.Price); err != nil {
			t.Fatal(err)
		}
	}
	interleaved := flatEvaluator(t, []time.Duration{time.Hour, 2 * time.Hour}, time.Minute)
	for i := range 91 {
		ts := int64(start + i*60)
		if i == 0 || i == 60 {
			if err := interleaved.ObservePrice(ts, map[int]float64{0: 0.5, 60: 2}[i]); err != nil {
				t.Fatal(err)
			}
		}
		for _, ev := range []*Evaluator{ahead, interleaved} {
			if err := ev.Observe(ts, 2); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, b := ahead.Summary().Strategies[0], interleaved.Summary().Strategies[0]
	if got := a.Windows[1].Dollars; math.Abs(got-3) > 1e-9 {
		t.Errorf("dollars over 90 minutes with prices ahead = %v, want 3", got)
	}
	if a.Windows[0].Dollars != b.Windows[0].Dollars || a.Total.Dollars != b.Total.Dollars {
		t.Errorf("prices ahead %+v, interleaved %+v", a.Total, b.Total)
	}
	if err := ahead.ObservePrice(start+60, 1); err == nil {
		t.Error("a price from the past was accepted")
	}
	fresh := flatEvaluator(t, []time.Duration{time.Hour}, time.Minute)
	if err := fresh.ObservePrice(start+120, 1); err != nil {
		t.Fatal(err)
	}
	if err := fresh.ObservePrice(start+60, 1); err == nil {
		t.Error("a waiting price out of order was accepted")
	}
	if err := fresh.ObservePrice(start+180, math.NaN()); err == nil {
		t.Error("a NaN price was accepted")
	}
}

// TestSetNamespacePrices: a namespace's prices reach the series seen before
// them and the series that appear later (with the history), and no other
// namespace's series.
func TestSetNamespacePrices(t *testing.T) {
	set, err := NewSet(Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 100, SyncPeriod: time.Minute}, Step: time.Minute,
		Windows: []time.Duration{2 * time.Hour}, Resolution: time.Minute},
		[]Strategy{{Name: "reactive", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const start = 1_800_000_000
	early := SeriesID{Metric: "rps", Namespace: "shop", Series: "early"}
	late := SeriesID{Metric: "rps", Namespace: "shop", Series: "late"}
	other := SeriesID{Metric: "rps", Namespace: "other", Series: "x"}
	// "early" exists before the prices; the prices run ahead of all samples.
	if err := set.Observe(early, start-60, 2); err != nil {
		t.Fatal(err)
	}
	for _, p := range []pricePoint{{start, 0.5}, {start + 3600, 2}} {
		if err := set.ObserveNamespacePrice("shop", p.TS, p.Price, 0.25); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.ObserveNamespacePrice("shop", start, 1, 0); err == nil {
		t.Error("a namespace price from the past was accepted")
	}
	for i := range 91 {
		ts := int64(start + i*60)
		for _, id := range []SeriesID{early, late, other} {
			if err := set.Observe(id, ts, 2); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := map[string]float64{}
	for _, s := range set.Summaries() {
		got[s.Series] = s.Strategies[0].Windows[0].Dollars
	}
	// late: 90 ticks of 2 pods, 60 at $0.5 and 30 at $2 = 3. early: one more
	// tick before the first price, priced at the first price: 3 + 2/60*0.5.
	if math.Abs(got["late"]-3) > 1e-9 || math.Abs(got["early"]-(3+1.0/60)) > 1e-9 || got["x"] != 0 {
		t.Errorf("dollars per series %v, want late 3, early 3.0167, x 0", got)
	}
}
