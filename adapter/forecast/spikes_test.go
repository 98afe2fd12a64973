package forecast

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMedianOfThree(t *testing.T) {
	in := []float64{1, 5, 1, 1, 9, 9, 9, 2, 3, 2}
	// The first two samples pass as they are; then the median of each
	// sample and the two before: a one-sample spike (9 at index 4 is not
	// one: it lasts) vanishes, a lasting change comes one sample late.
	want := []float64{1, 5, 1, 1, 1, 9, 9, 9, 3, 2}
	if got := medianOfThreeCopy(in); !slices.Equal(got, want) {
		t.Fatalf("medians %v, want %v", got, want)
	}
	// A ring reading the median reads the same, step by step and as a
	// whole, and stores the samples themselves.
	r := ringFrom(nil, nil, len(in), true)
	for i, v := range in {
		if got := r.readNext(v); got != want[i] {
			t.Fatalf("step %d: readNext %v, want %v", i, got, want[i])
		}
		r.push(v, true)
		if got := r.back(0); got != want[i] {
			t.Fatalf("step %d: back(0) %v, want %v", i, got, want[i])
		}
	}
	if raw, _ := r.copyOut(); !slices.Equal(raw, in) {
		t.Fatalf("stored %v, want the samples %v", raw, in)
	}
	for k := range in {
		if got := r.back(k); got != want[len(in)-1-k] {
			t.Fatalf("back(%d) %v, want %v", k, got, want[len(in)-1-k])
		}
	}
}

// spiky is a daily sine with one-sample spikes of three times the load on
// about one sample in thirty.
func spiky(n int, step time.Duration, seed uint64) series {
	rng := newRand(seed)
	base := sinusoid(step, 100, 40)
	s := generate(n, step, func(i int) float64 {
		v := base(i) * (1 + 0.02*rng.NormFloat64())
		if rng.IntN(30) == 0 {
			v *= 3
		}
		return v
	})
	return s
}

// TestFilterSpikesReadsTheRunningMedian: with the spike filter on, a
// forecaster fed the raw samples serves exactly what one with it off serves
// when fed the running median of three, so every part of it (models, model
// choice, offsets, drift, floor, evaluation) reads the filtered series.
// (The fit windows here start at the first sample, which both read as
// itself.) The series is a noise-free sine with one-sample spikes, so
// that the medians' excursions persist and both keep the whole reactive
// floor: a fit that reads the median always does, one fed the medians as
// its samples would also try a part of it where they fade (floorShares).
func TestFilterSpikesReadsTheRunningMedian(t *testing.T) {
	step := 10 * time.Minute
	rng := newRand(1)
	base := sinusoid(step, 100, 40)
	raw := generate(4*144, step, func(i int) float64 {
		if rng.IntN(30) == 0 {
			return 3 * base(i)
		}
		return base(i)
	})
	roundToFloat32(raw.vals)
	filtered := series{ts: raw.ts, vals: medianOfThreeCopy(raw.vals), step: step}
	st := Settings{Step: step, Horizon: 30 * time.Minute, WarmUp: 24 * time.Hour, RefitInterval: 12 * time.Hour, FilterSpikes: SpikeFilterOff}
	plain := replay(t, st, filtered)
	st.FilterSpikes = SpikeFilterOn
	got := replay(t, st, raw)
	models := 0
	for i := range got {
		if !got[i].SpikesFiltered || plain[i].SpikesFiltered {
			t.Fatalf("row %d: SpikesFiltered %v with the filter on, %v with it off", i, got[i].SpikesFiltered, plain[i].SpikesFiltered)
		}
		got[i].SpikesFiltered = false
		if got[i] != plain[i] {
			t.Fatalf("row %d: with FilterSpikes on the raw samples %+v, without it on their medians %+v", i, got[i], plain[i])
		}
		if !got[i].Fallback {
			models++
		}
	}
	if models == 0 {
		t.Fatal("no model was served: the comparison covered the reactive value only")
	}
}

// TestFilterSpikesKeepsASpikeOutOfTheServedValue: after a one-sample spike
// the reactive floor serves the spike, and the HPA would hold pods for it;
// with FilterSpikes the served value stays near the load. A change that
// lasts is followed from its second sample.
func TestFilterSpikesKeepsASpikeOutOfTheServedValue(t *testing.T) {
	step := 10 * time.Minute
	n := 3 * 144
	s := generate(n, step, sinusoid(step, 100, 40))
	spike := n - 20
	s.vals[spike] *= 5
	for i := n - 10; i < n; i++ { // a lasting doubling at the end
		s.vals[i] *= 2
	}
	roundToFloat32(s.vals)
	st := Settings{Step: step, Horizon: 30 * time.Minute, WarmUp: 24 * time.Hour, FilterSpikes: SpikeFilterOff}
	raw := replay(t, st, s)
	st.FilterSpikes = SpikeFilterOn
	filtered := replay(t, st, s)
	if raw[spike].Value < s.vals[spike] {
		t.Fatalf("without the filter, served %v below the spike %v (the floor)", raw[spike].Value, s.vals[spike])
	}
	if v := filtered[spike].Value; v > 2*s.vals[spike-1] {
		t.Errorf("with the filter, served %v at a spike of %v over a load of %v", v, s.vals[spike], s.vals[spike-1])
	}
	if filtered[spike].Observed != max(s.vals[spike-1], s.vals[spike-2]) {
		t.Errorf("observed %v at the spike, want the median of it and the two before (%v)", filtered[spike].Observed, max(s.vals[spike-1], s.vals[spike-2]))
	}
	first := n - 10
	if filtered[first].Observed >= s.vals[first] {
		t.Errorf("the first sample of a doubling was read at once (%v)", filtered[first].Observed)
	}
	if got, want := filtered[first+1].Observed, min(s.vals[first], s.vals[first+1]); got != want {
		t.Errorf("second sample of the doubling read as %v, want %v", got, want)
	}
	if filtered[first+1].Value < filtered[first+1].Observed {
		t.Errorf("served %v below the value read %v with the floor on", filtered[first+1].Value, filtered[first+1].Observed)
	}
}

// noisyLevel is a daily sine of 100 ± 40 plus noise() at each step.
func noisyLevel(n int, step time.Duration, noise func() float64) []float64 {
	base := sinusoid(step, 100, 40)
	y := make([]float64, n)
	for i := range y {
		y[i] = base(i) + noise()
	}
	return y
}

// TestExcursionPersistence: independent light-tailed noise keeps a share of
// its excursions one step later (near the theoretical 0.31 for Gaussian
// and 0.38 for uniform noise), noise that lasts keeps most of them, and
// one-sample spikes keep almost none: only these count as isolated.
func TestExcursionPersistence(t *testing.T) {
	const n = 5 * 1440
	rng := newRand(3)
	ar := 0.0
	cases := []struct {
		name     string
		y        []float64
		lo, hi   float64
		isolated bool
	}{
		{"Gaussian noise", noisyLevel(n, time.Minute, func() float64 { return 8 * rng.NormFloat64() }), 0.27, 0.36, false},
		{"uniform noise", noisyLevel(n, time.Minute, func() float64 { return 16 * (rng.Float64() - 0.5) }), 0.33, 0.43, false},
		{"lasting noise (AR(1), 0.8 a step)", noisyLevel(n, time.Minute, func() float64 { ar = 0.8*ar + 4*rng.NormFloat64(); return ar }), 0.6, 1.1, false},
		{"smooth (a trend keeps 1.5: two steps of it since the median, three a step later)", noisyLevel(n, time.Minute, func() float64 { return 0 }), 1.4, 1.6, false},
		{"one-sample spikes", spiky(n, time.Minute, 4).vals, -0.1, 0.15, true},
	}
	for _, c := range cases {
		obs := make([]bool, len(c.y))
		for i := range obs {
			obs[i] = true
		}
		p := excursionPersistence(c.y, obs, time.Minute)
		if !(p >= c.lo && p <= c.hi) {
			t.Errorf("%s: persistence %.3f, want in [%.2f, %.2f]", c.name, p, c.lo, c.hi)
		}
		if got := isolated(p); got != c.isolated {
			t.Errorf("%s: isolated %v (persistence %.3f), want %v", c.name, got, p, c.isolated)
		}
	}
	flat := make([]float64, 3*1440)
	obs := make([]bool, len(flat))
	for i := range flat {
		flat[i], obs[i] = 5, true
	}
	if p := excursionPersistence(flat, obs, time.Minute); !math.IsNaN(p) || isolated(p) {
		t.Errorf("a constant series: persistence %v, want NaN and not isolated", p)
	}
}

// TestExcursionPersistenceSkipsGapsAndOneDaysOutliers: steps next to a gap
// (interpolated, smooth) are not read, and one day of spikes among
// Gaussian days does not make the window's excursions isolated.
func TestExcursionPersistenceSkipsGapsAndOneDaysOutliers(t *testing.T) {
	rng := newRand(5)
	y := noisyLevel(4*1440, time.Minute, func() float64 { return 8 * rng.NormFloat64() })
	obs := make([]bool, len(y))
	for i := range obs {
		obs[i] = true
	}
	for i := 1440; i < 2*1440; i++ {
		if rng.IntN(20) == 0 {
			y[i] *= 4
		}
	}
	if p := excursionPersistence(y, obs, time.Minute); isolated(p) {
		t.Errorf("one spiky day in four: persistence %.3f, read as isolated", p)
	}
	// Unobserved steps, here spikes, are left out.
	for i := 0; i < len(y); i += 10 {
		y[i] *= 5
		obs[i] = false
	}
	if p := excursionPersistence(y, obs, time.Minute); !(p > isolatedPersistence) {
		t.Errorf("spikes on unobserved steps read: persistence %.3f", p)
	}
}

// TestAutoSpikeFilterFollowsTheSeries: by default (auto) a forecaster reads
// the median of three while its fit window's excursions are isolated
// samples, and the samples themselves once the window holds only noise
// that the latest sample predicts.
func TestAutoSpikeFilterFollowsTheSeries(t *testing.T) {
	step := 5 * time.Minute
	day := int(24 * time.Hour / step)
	spikes := spiky(3*day, step, 6)
	rng := newRand(8)
	base := sinusoid(step, 100, 40)
	s := generate(7*day, step, func(i int) float64 {
		if i < len(spikes.vals) {
			return spikes.vals[i]
		}
		return base(i) + 8*rng.NormFloat64()
	})
	roundToFloat32(s.vals)
	st := Settings{Step: step, History: 2 * 24 * time.Hour, RefitInterval: 6 * time.Hour}
	got := replay(t, st, s)
	if got[0].SpikesFiltered {
		t.Error("filtering before the first fit: nothing was measured yet")
	}
	if fc := got[3*day-1]; !fc.SpikesFiltered {
		t.Errorf("after three spiky days: not filtering (%+v)", fc)
	}
	if fc := got[len(got)-1]; fc.SpikesFiltered {
		t.Errorf("after four days of Gaussian noise: filtering (%+v)", fc)
	}
	for i, fc := range got {
		if fc.SpikesFiltered && fc.Observed != medianOfThree(s.vals[i], s.vals[i-1], s.vals[i-2]) {
			t.Fatalf("row %d: filtering, observed %v, want the median of the last three samples", i, fc.Observed)
		}
		if !fc.SpikesFiltered && fc.Observed != s.vals[i] {
			t.Fatalf("row %d: not filtering, observed %v, want the sample %v", i, fc.Observed, s.vals[i])
		}
	}
}

func TestParseSpikeFilter(t *testing.T) {
	for in, want := range map[string]SpikeFilter{"": SpikeFilterAuto, "auto": SpikeFilterAuto, "on": SpikeFilterOn, "off": SpikeFilterOff} {
		if got, err := ParseSpikeFilter(in); err != nil || got != want {
			t.Errorf("ParseSpikeFilter(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseSpikeFilter("true"); err == nil || !strings.Contains(err.Error(), "auto, on, off") {
		t.Errorf("ParseSpikeFilter(true): %v, want an error listing the choices", err)
	}
	st := Settings{Step: time.Minute, FilterSpikes: "median"}
	st.SetDefaults()
	if err := st.Validate(); err == nil || !strings.Contains(err.Error(), "filter spikes") {
		t.Errorf("Validate with filter %q: %v, want an error naming the field", "median", err)
	}
}

// roundToFloat32 rounds y to the float32 values the history stores, so that
// a sample read through the filter (a stored sample) compares equal to it.
func roundToFloat32(y []float64) {
	for i, v := range y {
		y[i] = float64(float32(v))
	}
}

// TestFilterSpikesBeforeAnySample: a forecaster with the filter on that has
// seen nothing serves zero, as one without it does, not a value read from
// an empty history.
func TestFilterSpikesBeforeAnySample(t *testing.T) {
	f, err := NewForecaster(Settings{Step: time.Minute, FilterSpikes: SpikeFilterOn})
	if err != nil {
		t.Fatal(err)
	}
	if fc := f.Serve(); fc.Value != 0 || fc.Observed != 0 {
		t.Errorf("before any sample: served %v, observed %v; want 0", fc.Value, fc.Observed)
	}
}

// TestExcursionPersistenceReadsTheLatestDays: a series whose first days
// were spiky and whose last three are not is not read as spiky.
func TestExcursionPersistenceReadsTheLatestDays(t *testing.T) {
	rng := newRand(9)
	y := noisyLevel(7*1440, time.Minute, func() float64 { return 8 * rng.NormFloat64() })
	copy(y, spiky(4*1440, time.Minute, 10).vals)
	obs := make([]bool, len(y))
	for i := range obs {
		obs[i] = true
	}
	if !isolated(excursionPersistence(y[:4*1440], obs[:4*1440], time.Minute)) {
		t.Fatal("the first four days, spiky, are not read as isolated excursions")
	}
	if p := excursionPersistence(y, obs, time.Minute); isolated(p) {
		t.Errorf("four spiky days, then three of Gaussian noise: persistence %.3f, read as isolated", p)
	}
}

// TestSpikesPerHorizon counts one-sample spikes per horizon: spikes of three
// times the load on about one sample in thirty of a smooth series are a
// sixth of one in a horizon of five steps and two in one of sixty.
// Independent Gaussian noise has some excursions that large and gone a step
// later (about 2% of its samples: the median of three removes them too), a
// smooth series none.
func TestSpikesPerHorizon(t *testing.T) {
	const n = 3 * 1440
	obs := make([]bool, n)
	for i := range obs {
		obs[i] = true
	}
	base := sinusoid(time.Minute, 100, 40)
	spikeRng := newRand(11)
	spikes := generate(n, time.Minute, func(i int) float64 {
		if spikeRng.IntN(30) == 0 {
			return 3 * base(i)
		}
		return base(i)
	}).vals
	rng := newRand(12)
	gaussian := noisyLevel(n, time.Minute, func() float64 { return 8 * rng.NormFloat64() })
	smooth := noisyLevel(n, time.Minute, func() float64 { return 0 })
	for _, c := range []struct {
		name   string
		y      []float64
		h      int
		lo, hi float64
	}{
		{"spikes, 5 steps", spikes, 5, 0.13, 0.2},
		{"spikes, 60 steps", spikes, 60, 1.6, 2.4},
		{"Gaussian noise, 5 steps", gaussian, 5, 0.05, 0.15},
		{"smooth, 60 steps", smooth, 60, 0, 0},
	} {
		if got := spikesPerHorizon(c.y, obs, time.Minute, c.h); !(got >= c.lo && got <= c.hi) {
			t.Errorf("%s: %.3f spikes per horizon, want in [%.2f, %.2f]", c.name, got, c.lo, c.hi)
		}
	}
	if got := spikesPerHorizon(spikes[:3], obs[:3], time.Minute, 5); got != 0 {
		t.Errorf("three samples: %v spikes per horizon, want 0 (none measured)", got)
	}
}

// TestAutoSpikeFilterLeavesSpikesThatMostHorizonsHold: the same spiky
// series is read through the median of three with a horizon of five steps
// (a spike in one horizon of six, left to the target's headroom) and as
// its samples with a horizon of an hour (two spikes in each: they are the
// peak the pods serve).
func TestAutoSpikeFilterLeavesSpikesThatMostHorizonsHold(t *testing.T) {
	s := spiky(3*1440, time.Minute, 13)
	for _, c := range []struct {
		horizon  time.Duration
		filtered bool
	}{{5 * time.Minute, true}, {time.Hour, false}} {
		st := Settings{Step: time.Minute, Horizon: c.horizon, History: 2 * 24 * time.Hour, RefitInterval: 6 * time.Hour}
		got := replay(t, st, s)
		if fc := got[len(got)-1]; fc.SpikesFiltered != c.filtered {
			t.Errorf("horizon %v: SpikesFiltered %v, want %v (%+v)", c.horizon, fc.SpikesFiltered, c.filtered, fc)
		}
	}
}
