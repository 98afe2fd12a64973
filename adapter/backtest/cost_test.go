package backtest

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/trace"
)

func TestParsePriceCSV(t *testing.T) {
	got, err := ParsePriceCSV(strings.NewReader("ts,price\n100,0.5\n\n 200 , 1.25 \n3600.0,0\n"), "p.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []PricePoint{{100, 0.5}, {200, 1.25}, {3600, 0}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestParsePriceCSVBadRows(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ts,price\n100,1\n200\n", "p.csv:3: want 2 fields (ts,price) separated by commas, got 1"},
		{"100,1\n200,x\n", `p.csv:2: field price: "x" is not a number`},
		{"100,1\n200,-0.5\n", `p.csv:2: field price: "-0.5" must be finite and not negative`},
		{"100,1\n200,+Inf\n", `p.csv:2: field price: "+Inf" must be finite and not negative`},
		{"100,1\n100,2\n", "p.csv:2: field ts: 100 is not after the previous row's 100"},
		{"100,1\n1.5,2\n", `p.csv:2: field ts: "1.5" is not after the previous row's "100"`},
		{"ts,7\n", `p.csv:1: field ts: "ts" is not Unix seconds`},
		{"ts,price\n", "p.csv: no data rows"},
		{"100,1,2\n", "p.csv:1: want 2 fields (ts,price) separated by commas, got 3"},
		{"100,1\n" + strings.Repeat("9", trace.MaxLineBytes+1) + "\n", "p.csv:2: line longer than"},
	} {
		_, err := ParsePriceCSV(strings.NewReader(tc.in), "p.csv")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePriceCSV(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParsePriceCSV(f *testing.F) {
	for _, seed := range []string{"ts,price\n0,1\n3600,2\n", "1,0.5\n2,x\n", "a,b\n", "", "5,1e308\n6,-1\n", "7.0,3\n8,NaN"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		pts, err := ParsePriceCSV(strings.NewReader(in), "fuzz.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv") && !strings.HasPrefix(err.Error(), "read fuzz.csv") {
				t.Fatalf("error does not name the source: %v", err)
			}
			return
		}
		for i, p := range pts {
			if math.IsNaN(p.Price) || math.IsInf(p.Price, 0) || p.Price < 0 {
				t.Fatalf("row %d: accepted price %v", i, p.Price)
			}
			if i > 0 && p.TS <= pts[i-1].TS {
				t.Fatalf("row %d: timestamps not increasing", i)
			}
		}
	})
}

func TestDayNightPrices(t *testing.T) {
	// 2023-11-14 22:13:20 UTC to a day later.
	start := int64(1_700_000_000)
	pts, err := DayNightPrices(start, start+86400, 2, 1, 8, 20)
	if err != nil {
		t.Fatal(err)
	}
	if pts[0].TS > start || pts[0].TS%3600 != 0 {
		t.Fatalf("first row at %d, want the hour at or before %d", pts[0].TS, start)
	}
	cur := priceCursor{points: pts}
	for ts := start; ts <= start+86400; ts += 60 {
		h := time.Unix(ts, 0).UTC().Hour()
		want := 1.0
		if h >= 8 && h < 20 {
			want = 2
		}
		if got := cur.at(ts); got != want {
			t.Fatalf("price at %s = %v, want %v", time.Unix(ts, 0).UTC(), got, want)
		}
	}
	if _, err := DayNightPrices(0, 10, 2, 1, 20, 8); err == nil {
		t.Fatal("inverted day hours accepted")
	}
	if _, err := DayNightPrices(0, 10, -2, 1, 8, 20); err == nil {
		t.Fatal("negative price accepted")
	}
}

func TestMixSpotPrices(t *testing.T) {
	spot := []PricePoint{{0, 0.3}, {100, 0.5}}
	onDemand := []PricePoint{{50, 1}}
	got, err := MixSpotPrices(spot, onDemand, 0.25)
	if err != nil {
		t.Fatal(err)
	}
	// At 0 on-demand has no row yet: its first price holds.
	want := []PricePoint{{0, 0.25*0.3 + 0.75*1}, {50, 0.25*0.3 + 0.75*1}, {100, 0.25*0.5 + 0.75*1}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].TS != want[i].TS || math.Abs(got[i].Price-want[i].Price) > 1e-12 {
			t.Fatalf("row %d: got %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := MixSpotPrices(spot, onDemand, 1.5); err == nil {
		t.Fatal("spot share 1.5 accepted")
	}
}

// TestTimelineDollarsByHand checks the dollar accounting on a tiny timeline:
// 60 s step, sync 60 s, no start-up delay, so one tick per sample.
func TestTimelineDollarsByHand(t *testing.T) {
	samples := []Sample{{TS: 0, Value: 1}, {TS: 60, Value: 1}, {TS: 120, Value: 1}, {TS: 180, Value: 1}, {TS: 300, Value: 1}}
	tl, err := NewTimeline(samples, TimelineConfig{Step: time.Minute, Capacity: 1,
		HPA: hpa.Config{MaxReplicas: 10, SyncPeriod: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	n, tick := tl.Ticks()
	if n != 5 || tick != 60 {
		t.Fatalf("timeline has %d ticks of %d s, want 5 of 60", n, tick)
	}
	// Ticks start at 0, 60, 120, 180, 240; the tick at 180 is a gap (no row at 240).
	replicas := []int32{2, 3, 4, 5, 6}
	prices := []PricePoint{{0, 1.2}, {120, 0.6}}
	// 2*1.2/60 + 3*1.2/60 + 4*0.6/60 + 6*0.6/60 (the gap tick 180 is not scored).
	want := (2*1.2 + 3*1.2 + 4*0.6 + 6*0.6) / 60
	if got := tl.Dollars(replicas, prices); math.Abs(got-want) > 1e-12 {
		t.Fatalf("dollars = %v, want %v", got, want)
	}
	// Before the first price row, its price holds.
	if got, want := tl.Dollars(replicas, []PricePoint{{100, 3}}), (2+3+4+6)*3.0/60; math.Abs(got-want) > 1e-12 {
		t.Fatalf("dollars with a late first price = %v, want %v", got, want)
	}
}

// TestWeighDemandFollowsPrice checks the weighting on a flat load: with the
// reference fixed at 1.5, the day price 2 gives u = 0.7*sqrt(4/3) and the
// night price 1 gives u = 0.7*sqrt(2/3); without a price, u0.
func TestWeighDemandFollowsPrice(t *testing.T) {
	var samples []Sample
	var load []float64
	for ts := int64(0); ts <= 4*3600; ts += 600 {
		samples = append(samples, Sample{TS: ts, Value: 70})
		load = append(load, 70)
	}
	prices := []PricePoint{{600, 2}, {4200, 2}, {7200, 1}} // held for at most an hour after each row
	p := cost.Params{Capacity: 10, ReferencePrice: 1.5}
	p.SetDefaults()
	got, err := WeighDemand(samples, load, prices, p, CostOptions{PriceHold: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range samples {
		u := 0.7
		switch {
		case s.TS >= 600 && s.TS < 7200:
			u = 0.7 * math.Sqrt(2/1.5)
		case s.TS >= 7200 && s.TS <= 7200+3600:
			u = 0.7 * math.Sqrt(1/1.5)
		}
		if want := 70 / (10 * u); math.Abs(got[i]-want) > 1e-9 {
			t.Errorf("ts %d: V = %v, want %v (u %.4f)", s.TS, got[i], want, u)
		}
	}
}

// TestRunCostGenerated runs the whole cost backtest on a generated diurnal
// load and checks the report's internal consistency.
func TestRunCostGenerated(t *testing.T) {
	samples := diurnal(4, 60, 3)
	prices, err := DayNightPrices(samples[0].TS, samples[len(samples)-1].TS, 2, 1, 8, 20)
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Model = "seasonal-naive"
	opts.Warmup = 24 * time.Hour
	opts.TargetStep = 0.05
	res, err := RunCost(context.Background(), samples, prices, opts, CostOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Report
	if len(r.Strategies) != 4 {
		t.Fatalf("%d strategies, want 4", len(r.Strategies))
	}
	for _, s := range r.Strategies {
		// Prices are 1 or 2 per replica-hour: dollars lie between pod-hours and twice that.
		if ph := s.PodMinutes / 60; !(s.Dollars >= ph-1e-9 && s.Dollars <= 2*ph+1e-9) {
			t.Errorf("%s: $%.2f outside [%v, %v] for %.0f pod-minutes", s.Name, s.Dollars, ph, 2*ph, s.PodMinutes)
		}
	}
	if r.Params.TargetUtilization != opts.ReactiveTarget {
		t.Errorf("u0 %v, want the reactive target %v", r.Params.TargetUtilization, opts.ReactiveTarget)
	}
	if r.Strategies[1].Target != res.Backtest.Report.Predictive.Target || r.Strategies[3].Target != r.Params.TargetUtilization {
		t.Errorf("cost-blind targets %v and %v, want the chosen %v and u0 %v",
			r.Strategies[1].Target, r.Strategies[3].Target, res.Backtest.Report.Predictive.Target, r.Params.TargetUtilization)
	}
	if want := 1 - r.Strategies[2].Dollars/r.Strategies[3].Dollars; math.Abs(r.Saving-want) > 1e-12 {
		t.Errorf("saving %v, want %v (against cost-blind at u0)", r.Saving, want)
	}
	if want := 1 - r.Strategies[2].Dollars/r.Strategies[1].Dollars; math.Abs(r.SavingVsChosen-want) > 1e-12 {
		t.Errorf("saving against the chosen target %v, want %v", r.SavingVsChosen, want)
	}
	// The reference is the lowest price, so the weighting only runs hotter than u0.
	if !(r.Strategies[2].PodMinutes <= r.Strategies[3].PodMinutes) || !(r.Saving > 0) {
		t.Errorf("cost-weighted %.0f pod-minutes ($%.2f), cost-blind at u0 %.0f ($%.2f): want fewer pods and dollars",
			r.Strategies[2].PodMinutes, r.Strategies[2].Dollars, r.Strategies[3].PodMinutes, r.Strategies[3].Dollars)
	}
	if r.AsSafeAsReactive != (r.Strategies[2].UnderProvisionedMinutes <= r.Strategies[0].UnderProvisionedMinutes) {
		t.Errorf("as-safe flag %v disagrees with the figures %+v", r.AsSafeAsReactive, r.Strategies)
	}
	var b strings.Builder
	if err := r.WriteTable(&b, "synthetic"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "cost-weighted") || !strings.Contains(b.String(), "dollars") {
		t.Errorf("table lacks the cost-weighted row:\n%s", b.String())
	}
	if _, err := RunCost(context.Background(), samples, nil, opts, CostOptions{}); err == nil {
		t.Error("a cost backtest without prices ran")
	}
}
