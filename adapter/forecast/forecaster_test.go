package forecast

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

const testStep = 5 * time.Minute

func testSettings(m Model) Settings {
	return Settings{Step: testStep, Horizon: 15 * time.Minute, Model: m}
}

func TestSettingsDefaultsAndValidate(t *testing.T) {
	s := Settings{Step: time.Minute}
	s.SetDefaults()
	if s.Horizon != DefaultHorizon || s.Quantile != DefaultQuantile || s.Model != ModelAuto ||
		s.History != DefaultHistory || s.RefitInterval != DefaultRefitInterval || s.WarmUp != DefaultWarmUp || s.Hold != 0 {
		t.Fatalf("defaults not applied: %+v", s)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := []struct {
		mut  func(*Settings)
		want string
	}{
		{func(s *Settings) { s.Step = 1500 * time.Millisecond }, "step"},
		{func(s *Settings) { s.Horizon = 30 * time.Second }, "horizon"},
		{func(s *Settings) { s.Quantile = 1 }, "quantile"},
		{func(s *Settings) { s.Quantile = 0.2 }, "quantile"},
		{func(s *Settings) { s.Model = "kalman" }, "model"},
		{func(s *Settings) { s.History = time.Hour }, "history"},
		{func(s *Settings) { s.RefitInterval = time.Second }, "refit interval"},
		{func(s *Settings) { s.Hold = -time.Minute }, "hold"},
		{func(s *Settings) { s.Hold = 5 * 24 * time.Hour }, "hold"},
	}
	for _, b := range bad {
		s := Settings{Step: time.Minute}
		s.SetDefaults()
		b.mut(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("settings %+v: error %v, want one naming %q", s, err, b.want)
		}
		if _, err := NewForecaster(s); err == nil {
			t.Errorf("NewForecaster accepted invalid settings %+v", s)
		}
	}
	if _, err := NewForecaster(Settings{}); err == nil {
		t.Error("NewForecaster accepted a zero step")
	}
}

func TestParseModel(t *testing.T) {
	for _, m := range Models() {
		got, err := ParseModel(string(m))
		if err != nil || got != m {
			t.Errorf("ParseModel(%q) = %q, %v", m, got, err)
		}
	}
	if _, err := ParseModel("neural"); err == nil || !strings.Contains(err.Error(), `"neural"`) {
		t.Errorf("ParseModel(neural) error %v, want one naming it", err)
	}
}

func TestObserveRejectsBadInput(t *testing.T) {
	f, err := NewForecaster(testSettings(ModelAuto))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		err := f.Observe(1000, v)
		if err == nil || !strings.Contains(err.Error(), "non-finite") || !strings.Contains(err.Error(), "1000") {
			t.Errorf("Observe(1000, %v) error %v, want non-finite naming the timestamp", v, err)
		}
	}
	if err := f.Observe(1000, 5); err != nil {
		t.Fatal(err)
	}
	if err := f.Observe(1000, 6); err == nil || !strings.Contains(err.Error(), "not after") {
		t.Errorf("repeated timestamp: error %v", err)
	}
	if err := f.Observe(1100, 6); err == nil || !strings.Contains(err.Error(), "less than a step") {
		t.Errorf("sub-step timestamp: error %v", err)
	}
	// The last good state keeps serving.
	if got := f.Serve(); got.Observed != 5 || got.At != 1000 {
		t.Errorf("after rejected samples Serve() = %+v, want the sample at 1000", got)
	}
}

func TestWarmUpServesReactive(t *testing.T) {
	s := generate(50, testStep, sinusoid(testStep, 100, 20)) // 50 steps < 6h warm-up
	for i, fc := range replay(t, testSettings(ModelAuto), s) {
		if fc.Model != ModelReactive || !fc.Fallback || fc.Value != s.vals[i] || fc.Reason != "warm-up" {
			t.Fatalf("row %d during warm-up: %+v, want reactive %v", i, fc, s.vals[i])
		}
	}
}

// The seasonal models forecast a pure sinusoid near-exactly once they have
// two days of it, and detection finds the daily period.
func TestSinusoidSeasonalModels(t *testing.T) {
	const level, amp = 100.0, 40.0
	n := 5 * 288
	s := generate(n, testStep, sinusoid(testStep, level, amp))
	truth := sinusoid(testStep, level, amp)
	for _, m := range []Model{ModelSeasonalNaive, ModelHoltWinters, ModelFourier, ModelAuto} {
		t.Run(string(m), func(t *testing.T) {
			f, err := NewForecaster(testSettings(m))
			if err != nil {
				t.Fatal(err)
			}
			point, upper := make([]float64, 3), make([]float64, 3)
			var worst float64
			for i := range s.ts {
				if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
					t.Fatal(err)
				}
				if i < 3*288 {
					continue
				}
				fc := f.Serve()
				if fc.Model == ModelReactive {
					t.Fatalf("row %d: still reactive after 3 days of a sinusoid: %s", i, fc.Reason)
				}
				f.Path(point, upper)
				for k := range point {
					worst = math.Max(worst, math.Abs(point[k]-truth(i+k+1)))
				}
				peak := math.Max(truth(i+1), math.Max(truth(i+2), truth(i+3)))
				if fc.Value < peak-0.01*amp {
					t.Fatalf("row %d: served %v below the coming peak %v", i, fc.Value, peak)
				}
			}
			if worst > 0.01*amp {
				t.Errorf("worst point error %v, want < 1%% of the amplitude %v", worst, amp)
			}
			if !f.Seasonality().Daily {
				t.Errorf("daily season not detected: %+v", f.Seasonality())
			}
		})
	}
}

// A linear ramp: linear and Holt-Winters follow the trend.
func TestRampFollowsTrend(t *testing.T) {
	rng := newRand(3)
	n := 2 * 288
	s := generate(n, testStep, func(i int) float64 { return 50 + 0.5*float64(i) + 0.2*rng.NormFloat64() })
	for _, m := range []Model{ModelLinear, ModelHoltWinters, ModelARIMA, ModelAuto} {
		t.Run(string(m), func(t *testing.T) {
			fcs := replay(t, testSettings(m), s)
			point, upper := make([]float64, 3), make([]float64, 3)
			f, _ := NewForecaster(testSettings(m))
			under, rows := 0, 0
			sumErr := 0.0
			for i := range s.ts {
				_ = f.Observe(s.ts[i], s.vals[i])
				if i < 288 || i+3 >= n {
					continue
				}
				f.Path(point, upper)
				want := 50 + 0.5*float64(i+3)
				// A flat forecast misses the lead-3 value by 1.5.
				d := math.Abs(point[2] - want)
				if d > 3 {
					t.Fatalf("row %d: lead-3 forecast %v, want %v ± 3", i, point[2], want)
				}
				sumErr += d
				rows++
				if fcs[i].Value < s.vals[i+3] {
					under++
				}
			}
			if mean := sumErr / float64(rows); mean > 0.75 {
				t.Errorf("mean lead-3 miss %v, want under 0.75 (half of a flat forecast's)", mean)
			}
			// The served value is the 0.9 quantile of the horizon's peak:
			// about one miss in ten, with sampling slack.
			if under > (n-288)*15/100 {
				t.Errorf("served value under the value three steps later %d times of %d", under, n-288)
			}
		})
	}
}

// White noise: no season, and auto serves nothing better than reactive
// claims: the served value stays within the noise band.
func TestWhiteNoise(t *testing.T) {
	rng := newRand(7)
	n := 4 * 288
	s := generate(n, testStep, func(int) float64 { return 100 + 10*rng.NormFloat64() })
	f, err := NewForecaster(testSettings(ModelAuto))
	if err != nil {
		t.Fatal(err)
	}
	var sumServed, cnt float64
	for i := range s.ts {
		if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatal(err)
		}
		fc := f.Serve()
		if i >= 2*288 {
			sumServed += fc.Value
			cnt++
		}
	}
	if se := f.Seasonality(); se.Daily || se.Weekly {
		t.Errorf("season detected in white noise: %+v", se)
	}
	// Reactive serves 100 on average, and about 100+1.28*10 at the 0.9
	// quantile; a model that knows the mean serves about its 0.9 quantile of
	// the peak of three steps. Anything far above that buys safety with pods.
	if m := sumServed / cnt; m > 100+2.5*10 {
		t.Errorf("mean served %v on white noise around 100 (sd 10): too far above reactive", m)
	}
	var react float64
	for _, sc := range f.Scores() {
		if sc.Model == ModelReactive {
			react = sc.Loss
		}
	}
	if fc := f.Serve(); fc.Model != ModelReactive {
		for _, sc := range f.Scores() {
			if sc.Model == fc.Model && sc.Loss >= react {
				t.Errorf("serves %s with loss %v not below reactive's %v", fc.Model, sc.Loss, react)
			}
		}
	}
}

// stepAfterRefit is the first step from i on that follows the first step of
// a refit interval: a change there meets a fit that has not seen it.
func stepAfterRefit(i int) int {
	grid, stepSec := int64(DefaultRefitInterval/time.Second), int64(testStep/time.Second)
	for (generateStart+int64(i-1)*stepSec)%grid >= stepSec {
		i++
	}
	return i
}

// A phase flip of the daily pattern just after a refit is a step in the
// forecast errors: drift fires before the next refit, the reactive value is
// served, and a later refit recovers.
func TestStepChangeDriftFallsBackAndRecovers(t *testing.T) {
	n := 7 * 288
	flip := stepAfterRefit(4 * 288)
	base := sinusoid(testStep, 100, 40)
	s := generate(n, testStep, func(i int) float64 {
		if i >= flip {
			return 200 - base(i) // the pattern inverts, a step change of its shape
		}
		return base(i)
	})
	fcs := replay(t, testSettings(ModelAuto), s)
	if fcs[flip-1].Model == ModelReactive {
		t.Fatalf("before the change the model was reactive: %s", fcs[flip-1].Reason)
	}
	fired := -1
	for i := flip; i < flip+288; i++ {
		if strings.HasPrefix(fcs[i].Reason, "drift") {
			fired = i
			break
		}
	}
	if fired < 0 {
		t.Fatalf("no drift within a day of the change")
	}
	if fc := fcs[fired]; fc.Model != ModelReactive || !fc.Fallback || fc.Value != fc.Observed {
		t.Errorf("at drift served %+v, want the reactive value", fc)
	}
	recovered := false
	for i := fired; i < n; i++ {
		if fcs[i].Model != ModelReactive {
			recovered = true
			break
		}
	}
	if !recovered {
		t.Errorf("never recovered from the fallback after the change at row %d (drift at %d): %s", flip, fired, fcs[n-1].Reason)
	}
}

// Gaps are imputed for the state but never scored; real zeros are zeros.
func TestGapsAreNotZeros(t *testing.T) {
	n := 4 * 288
	s := generate(n, testStep, sinusoid(testStep, 100, 40))
	// Drop 2 hours of rows on day 3.
	var g series
	g.step = s.step
	for i := range s.ts {
		if i >= 3*288 && i < 3*288+24 {
			continue
		}
		g.ts = append(g.ts, s.ts[i])
		g.vals = append(g.vals, s.vals[i])
	}
	f, err := NewForecaster(testSettings(ModelAuto))
	if err != nil {
		t.Fatal(err)
	}
	for i := range g.ts {
		if err := f.Observe(g.ts[i], g.vals[i]); err != nil {
			t.Fatal(err)
		}
	}
	y, obs := f.hist.copyOut()
	gapStart := len(y) - (n - 3*288)
	for k := gapStart; k < gapStart+24; k++ {
		if obs[k] {
			t.Fatalf("step %d of the gap marked observed", k)
		}
		if math.Abs(y[k]-s.vals[3*288+k-gapStart]) > 2 {
			t.Fatalf("gap step %d imputed as %v, want near the model's %v (not zero)", k, y[k], s.vals[3*288+k-gapStart])
		}
	}
	if fc := f.Serve(); fc.Model == ModelReactive {
		t.Errorf("after a 2h gap the model was dropped: %s", fc.Reason)
	}

	// Real zeros stay zeros, observed.
	z := generate(100, testStep, func(i int) float64 {
		if i%10 == 0 {
			return 0
		}
		return 5
	})
	f2, _ := NewForecaster(testSettings(ModelAuto))
	for i := range z.ts {
		if err := f2.Observe(z.ts[i], z.vals[i]); err != nil {
			t.Fatal(err)
		}
	}
	y2, obs2 := f2.hist.copyOut()
	for i := range y2 {
		if !obs2[i] || y2[i] != z.vals[i] {
			t.Fatalf("step %d: stored %v observed=%v, want %v observed", i, y2[i], obs2[i], z.vals[i])
		}
	}
}

// An outage longer than the history resets the forecaster to warm-up.
func TestLongOutageResets(t *testing.T) {
	st := testSettings(ModelAuto)
	st.History = 2 * 24 * time.Hour
	s := generate(2*288, testStep, sinusoid(testStep, 100, 40))
	f, err := NewForecaster(st)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.ts {
		if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatal(err)
		}
	}
	if fc := f.Serve(); fc.Model == ModelReactive {
		t.Fatalf("not fitted after 2 days: %s", fc.Reason)
	}
	if err := f.Observe(s.ts[len(s.ts)-1]+3*86400, 70); err != nil {
		t.Fatal(err)
	}
	if fc := f.Serve(); fc.Model != ModelReactive || fc.Reason != "warm-up" || fc.Value != 70 || f.hist.len() != 1 {
		t.Errorf("after a 3-day outage: %+v, history %d, want a fresh warm-up", fc, f.hist.len())
	}
}

// Same input, same output; and served values for a prefix do not change
// when more data is appended (causality).
func TestDeterministicAndCausal(t *testing.T) {
	rng := newRand(11)
	n := 4 * 288
	base := sinusoid(testStep, 100, 30)
	s := generate(n, testStep, func(i int) float64 { return base(i) + 5*rng.NormFloat64() })
	a := replay(t, testSettings(ModelAuto), s)
	b := replay(t, testSettings(ModelAuto), s)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("row %d differs between identical runs: %+v vs %+v", i, a[i], b[i])
		}
	}
	cut := 3*288 + 17
	prefix := series{ts: s.ts[:cut], vals: s.vals[:cut], step: s.step}
	p := replay(t, testSettings(ModelAuto), prefix)
	for i := range p {
		if p[i] != a[i] {
			t.Fatalf("row %d: served %+v on the prefix, %+v on the full input", i, p[i], a[i])
		}
	}
}

func TestServeFloorAndEvaluation(t *testing.T) {
	n := 3 * 288
	s := generate(n, testStep, sinusoid(testStep, 100, 40))
	floor := replay(t, testSettings(ModelFourier), s)
	st := testSettings(ModelFourier)
	st.NoReactiveFloor = true
	free := replay(t, st, s)
	below := 0
	for i := range floor {
		if floor[i].Value < floor[i].Observed {
			t.Fatalf("row %d: served %v below observed %v with the floor on", i, floor[i].Value, floor[i].Observed)
		}
		if free[i].Value < free[i].Observed {
			below++
		}
		if free[i].Model != ModelReactive && free[i].Value != free[i].Upper {
			t.Fatalf("row %d: without floor served %v, want Upper %v", i, free[i].Value, free[i].Upper)
		}
	}
	if below == 0 {
		t.Error("without the floor the served value never dropped below observed on a falling sinusoid")
	}
	// Evaluations score the lead-h forecast made one horizon ago.
	valid := 0
	for i := 3; i < n; i++ {
		e := floor[i].Evaluation
		if !e.Valid {
			continue
		}
		valid++
		if e.Actual != s.vals[i] {
			t.Fatalf("row %d: evaluation actual %v, want %v", i, e.Actual, s.vals[i])
		}
		if floor[i-3].Model == ModelReactive && (e.Model != ModelReactive || e.Forecast != s.vals[i-3]) {
			t.Fatalf("row %d: reactive evaluation %+v, want forecast %v", i, e, s.vals[i-3])
		}
	}
	if valid < n-10 {
		t.Errorf("only %d of %d rows had an evaluation", valid, n)
	}
}

func TestStateBytes(t *testing.T) {
	f, err := NewForecaster(Settings{Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b := f.StateBytes()
	// 14 days of one-minute float32 history plus its bitset.
	if b < 14*1440*4 || b > 100_000 {
		t.Errorf("StateBytes() = %d for an empty 14-day one-minute forecaster, want about 80 KB", b)
	}
}

// A bulk load with deferred refits fits once, on the window ending at the
// last refit grid point, replays the steps since, and then serves exactly
// what a forecaster that refit as the samples came serves.
func TestDeferRefitsFitsOnceAtTheEnd(t *testing.T) {
	const days = 3
	s := generate(days*24*60, time.Minute, sinusoid(time.Minute, 100, 40))
	base := Settings{Step: time.Minute, History: days * 24 * time.Hour, Model: ModelAuto}

	bulk, err := NewForecaster(base)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := NewForecaster(base)
	if err != nil {
		t.Fatal(err)
	}
	bulk.DeferRefits()
	for i := range s.ts {
		if err := bulk.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatal(err)
		}
		if err := streamed.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, _ := bulk.FitStats(); n != 0 {
		t.Fatalf("deferred forecaster refit %d times before ResumeRefits", n)
	}
	bulk.ResumeRefits()
	n, d, model := bulk.FitStats()
	if n != 1 || d <= 0 || model == "" {
		t.Fatalf("after ResumeRefits: %d fits, latest %v, model %q; want 1 fit with a duration and a model", n, d, model)
	}
	if sn, _, _ := streamed.FitStats(); sn < 2 {
		t.Fatalf("streamed forecaster refit %d times over %d days, want one per refit interval", sn, days)
	}
	got, want := bulk.Serve(), streamed.Serve()
	got.Evaluation, want.Evaluation = Evaluation{}, Evaluation{}
	if got != want {
		t.Fatalf("bulk-loaded forecaster serves %+v, the streamed one %+v", got, want)
	}
	if got.Model == ModelReactive {
		t.Fatalf("nothing fitted on a daily sinusoid: %s", got.Reason)
	}
}

// served is what an HPA reads from a forecast, and why.
func served(fc Forecast) Forecast {
	fc.Evaluation = Evaluation{}
	return fc
}

// Two forecasters fed the same series serve the same values at every step,
// whenever the second one started: a replica that restarts loads Lookback
// of history in bulk and then agrees with the replica that stayed. The
// series is noisy and daily, has gaps, and changes shape on day 4 (drift);
// the second forecaster starts at many points and is fed as the serving
// loop feeds it (a bulk load, then cycles of a few samples with refits
// deferred to the end of each cycle).
func TestForecastersStartedAtDifferentTimesAgree(t *testing.T) {
	for _, filter := range []SpikeFilter{SpikeFilterOff, SpikeFilterOn, SpikeFilterAuto} {
		t.Run(fmt.Sprintf("filterSpikes=%v", filter), func(t *testing.T) {
			testStartedAtDifferentTimes(t, Settings{Step: testStep, Horizon: 15 * time.Minute, History: 2 * 24 * time.Hour,
				RefitInterval: 6 * time.Hour, FilterSpikes: filter})
		})
	}
}

func testStartedAtDifferentTimes(t *testing.T, st Settings) {
	rng := newRand(29)
	base := sinusoid(testStep, 100, 40)
	n := 6 * 288
	stepSec := int64(testStep / time.Second)
	flip := 4 * 288
	for (generateStart+int64(flip-1)*stepSec)%int64(st.RefitInterval/time.Second) >= stepSec {
		flip++ // just after a refit: drift fires before the next one
	}
	full := generate(n, testStep, func(i int) float64 {
		v := base(i)
		if i >= flip {
			v = 200 - v
		}
		return v + 6*rng.NormFloat64()
	})
	var s series // with a 50-minute gap, and single missing samples
	s.step = full.step
	for i := range full.ts {
		if (i >= 2*288+100 && i < 2*288+110) || i%97 == 50 {
			continue
		}
		s.ts = append(s.ts, full.ts[i])
		s.vals = append(s.vals, full.vals[i])
	}
	ref := replay(t, st, s)
	drifted, modelled := false, 0
	for _, fc := range ref {
		drifted = drifted || strings.HasPrefix(fc.Reason, "drift")
		if fc.Model != ModelReactive {
			modelled++
		}
	}
	if !drifted || modelled < len(ref)/2 {
		t.Fatalf("the reference drifted: %v, served a model at %d of %d steps; the test needs both", drifted, modelled, len(ref))
	}
	lookback := int64(st.Lookback() / time.Second)
	var starts []int
	ri := int64(st.RefitInterval / time.Second)
	for start := 40; start < len(s.ts); start++ {
		// Every 61st row, and the rows a step before a refit comes due,
		// whose latest fit's window starts nearest the loaded history's start.
		if start%61 == 40%61 || (s.ts[start]+stepSec)/ri > s.ts[start]/ri {
			starts = append(starts, start)
		}
	}
	for _, start := range starts {
		f, err := NewForecaster(st)
		if err != nil {
			t.Fatal(err)
		}
		f.DeferRefits()
		from := 0
		for s.ts[from] < s.ts[start]-lookback {
			from++
		}
		// Cycles: the bulk load up to start, then one to three samples each.
		for lo, hi := from, start+1; lo < len(s.ts); lo, hi = hi, min(len(s.ts), hi+1+hi%3) {
			f.DeferRefits()
			for i := lo; i < hi; i++ {
				if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
					t.Fatal(err)
				}
			}
			f.ResumeRefits()
			if got, want := served(f.Serve()), served(ref[hi-1]); got != want {
				t.Fatalf("started at row %d, row %d: serves\n%+v\nthe forecaster fed from the first row serves\n%+v", start, hi-1, got, want)
			}
		}
	}
}

// In a drift the forecaster falls back to the observed value, but the HPA
// still runs at the target chosen for the model's served values, margin
// included: the fallback serves the observed value plus the model's learnt
// margin for the peak, so it is not less safe than the model it stands in
// for.
func TestDriftFallbackKeepsTheModelsMargin(t *testing.T) {
	n := 7 * 288
	flip := stepAfterRefit(4 * 288)
	base := sinusoid(testStep, 100, 40)
	rng := newRand(7)
	noise := make([]float64, n)
	for i := range noise {
		noise[i] = 6 * rng.NormFloat64()
	}
	s := generate(n, testStep, func(i int) float64 {
		v := base(i)
		if i >= flip {
			v = 200 - v // the pattern inverts, a step change of its shape
		}
		return v + noise[i]
	})
	f, err := NewForecaster(testSettings(ModelAuto))
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.ts {
		if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatal(err)
		}
		fc := f.Serve()
		if i < flip || !strings.HasPrefix(fc.Reason, "drift") {
			continue
		}
		if fc.Model != ModelReactive || !fc.Fallback || fc.Predicted != fc.Observed {
			t.Fatalf("at drift served %+v, want the reactive fallback", fc)
		}
		if !(f.peakOffset > 0) {
			t.Fatalf("the model learnt no margin for the peak on a noisy series (offset %v): nothing to check", f.peakOffset)
		}
		want := upperOf(fc.Observed, f.peakOffset, f.scale)
		if fc.Upper != want || fc.Value != math.Max(want, fc.Observed) || !(fc.Value > fc.Observed) {
			t.Fatalf("at drift served value %v (upper %v) for observed %v, want %v: the observed value plus the model's margin (%v, %s)",
				fc.Value, fc.Upper, fc.Observed, want, f.peakOffset, f.scale)
		}
		return
	}
	t.Fatal("no drift after the change")
}

// Drift is judged per minute of data time: on a stationary series sampled
// every 15 seconds, whose served-value losses are correlated over many
// steps (their horizons overlap), the forecaster does not fall back more
// often than at a minute. Per-step inputs alarmed on such noise every day
// or so and served a single noisy sample in place of the model.
func TestDriftDoesNotAlarmOnStationaryNoiseAtFineSteps(t *testing.T) {
	const step = 15 * time.Second
	days := 6
	n := days * int(24*time.Hour/step)
	rng := newRand(31)
	daily := sinusoid(step, 1, 0.6)
	s := generate(n, step, func(i int) float64 { return 100 * daily(i) * math.Exp(0.3*rng.NormFloat64()) })
	fcs := replay(t, Settings{Step: step}, s)
	var drifts, scored int
	for i, fc := range fcs {
		if s.ts[i]-s.ts[0] < int64(2*24*time.Hour/time.Second) {
			continue
		}
		scored++
		if strings.HasPrefix(fc.Reason, "drift") {
			drifts++
		}
	}
	if share := float64(drifts) / float64(scored); share > 0.005 {
		t.Errorf("served the drift fallback on %.1f%% of %d steps of stationary noise, want under 0.5%%", 100*share, scored)
	}
}

// A seasonal model asked for by name serves once the window holds a day and
// its level window of training and the least evaluation span (31 h), not
// only once a third of the window can be evaluated on (37.5 h); with less it
// still serves the reactive value.
func TestNamedSeasonalModelFitsOnceADayOfTrainingFits(t *testing.T) {
	step := 5 * time.Minute
	perHour := int(time.Hour / step)
	for _, m := range []Model{ModelSeasonalNaive, ModelProfile} {
		for _, c := range []struct {
			hours int
			want  Model
		}{{29, ModelReactive}, {33, m}, {40, m}} {
			t.Run(fmt.Sprintf("%s/%dh", m, c.hours), func(t *testing.T) {
				f, err := NewForecaster(Settings{Step: step, Model: m, RefitInterval: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				// Fed in bulk, the forecaster fits once at the latest hour on
				// the grid: the window then holds between hours-1 and hours.
				f.DeferRefits()
				s := generate(c.hours*perHour, step, sinusoid(step, 100, 40))
				for i := range s.ts {
					if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
						t.Fatal(err)
					}
				}
				f.ResumeRefits()
				fc := f.Serve()
				if fc.Model != c.want {
					t.Fatalf("after %d h of a daily series: serving %s (%s), want %s", c.hours, fc.Model, fc.Reason, c.want)
				}
				if c.want == m && fc.Fallback {
					t.Fatalf("after %d h: %s serves as a fallback: %s", c.hours, m, fc.Reason)
				}
			})
		}
	}
}

// A horizon that is not a whole number of steps is covered to the end of the
// step it ends in: at a 2-minute step a 5-minute horizon ends inside the
// third step, so a rise carried by the third sample ahead (the load of
// minutes 4-6) is served.
func TestHorizonCoversTheStepItEndsIn(t *testing.T) {
	step := 2 * time.Minute
	day := int(24 * time.Hour / step)
	const riseAt = 300 // sample of the day the hour at 200 starts at
	s := generate(4*day, step, func(i int) float64 {
		if j := i % day; j >= riseAt && j < riseAt+30 {
			return 200
		}
		return 100
	})
	st := Settings{Step: step, Horizon: 5 * time.Minute, WarmUp: 2 * 24 * time.Hour, Model: ModelSeasonalNaive}
	if got := st.HorizonSteps(); got != 3 {
		t.Fatalf("HorizonSteps of a 5m horizon at a 2m step = %d, want 3", got)
	}
	f, err := NewForecaster(st)
	if err != nil {
		t.Fatal(err)
	}
	var out Forecast
	for i := range 3*day + riseAt - 3 + 1 { // the last origin is three samples before the rise
		if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
			t.Fatal(err)
		}
		out = f.Serve()
	}
	point, upper := make([]float64, 4), make([]float64, 4)
	if n := f.Path(point, upper); n != 3 || point[1] != 100 || point[2] != 200 {
		t.Fatalf("path %v (%d leads), want 100, 100, 200", point[:n], n)
	}
	if out.Model != ModelSeasonalNaive || out.Value < 200 {
		t.Errorf("served %v (%s, %s), want at least the 200 of the step the horizon ends in", out.Value, out.Model, out.Reason)
	}
}

// Holds are counted like horizons: a hold that is not a whole number of
// steps holds the sample whose step it ends in too, so the HPA's 5-minute
// window stays a hold at a 3-minute step.
func TestHoldStepsCoverTheStepTheHoldEndsIn(t *testing.T) {
	for _, c := range []struct {
		hold, step time.Duration
		want       []int
	}{
		{0, 15 * time.Second, []int{1, 4, 12, 20}},
		{0, time.Minute, []int{1, 3, 5}},
		{0, 2 * time.Minute, []int{1, 2, 3}},
		{0, 3 * time.Minute, []int{1, 2}},
		{0, 5 * time.Minute, []int{1}},
		{5 * time.Minute, 3 * time.Minute, []int{2}},
		{time.Minute, 3 * time.Minute, []int{1}},
	} {
		if got := holdSteps(c.hold, c.step); !slices.Equal(got, c.want) {
			t.Errorf("holdSteps(%v, %v) = %v, want %v", c.hold, c.step, got, c.want)
		}
	}
}

// Model choice serves the candidate whose backtest loss is least, the
// reactive value (scored with its own margin) included: over a whole day of
// backtest a model is served wherever it beats the reactive value at all,
// and the reactive value where nothing does. Over a shorter backtest (the
// first days of history) a model must beat it by skillMargin. Checked at
// fits of several lengths of a noisy daily series, a random walk and white
// noise, until both outcomes have been seen over whole days.
func TestServesTheCandidateOfLeastLoss(t *testing.T) {
	rng := newRand(11)
	walk := 1000.0
	serieses := map[string]series{
		"noisy daily": generate(6*288, testStep, func(i int) float64 {
			return sinusoid(testStep, 200, 80)(i) + 25*rng.NormFloat64()
		}),
		"random walk": generate(6*288, testStep, func(int) float64 {
			walk = max(100, walk+20*rng.NormFloat64())
			return walk
		}),
		"white noise": generate(6*288, testStep, func(int) float64 { return 100 + 10*rng.NormFloat64() }),
	}
	st := testSettings(ModelAuto)
	st.SetDefaults()
	whole := int(evalSpan / st.Step)
	served := map[bool]int{} // over whole days, by whether the reactive value was served
	for name, s := range serieses {
		all, allObs := s.dense()
		for days := 1.0; days <= 6; days += 0.5 {
			n := int(days * 288)
			y, obs := all[:n], allObs[:n]
			c := refit(y, obs, st, n, -1, false, excursionPersistence(y, obs, st.Step))
			var react, best CandidateScore
			best.Loss = math.Inf(1)
			for _, sc := range c.scores {
				if sc.Model == ModelReactive {
					react = sc
				} else if sc.Loss < best.Loss {
					best = sc
				}
			}
			margin := 0.0
			if n/3 < whole {
				margin = skillMargin
			}
			want := ModelReactive
			if best.Loss < (1-margin)*react.Loss {
				want = best.Model
			}
			if got := c.pred.kind(); got != want {
				t.Fatalf("%s, %.1f days: serves %s; want %s (best %s %.5g, reactive %.5g, margin %v)", name, days, got, want, best.Model, best.Loss, react.Loss, margin)
			}
			if margin == 0 {
				served[want == ModelReactive]++
			}
		}
	}
	if served[true] == 0 || served[false] == 0 {
		t.Fatalf("fits over whole days serving the reactive value: %d, a model: %d; want both seen", served[true], served[false])
	}
}
