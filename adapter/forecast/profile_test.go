package forecast

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestProfileIsMedianOfCycleMeansPlusLevel(t *testing.T) {
	// Period 10, window half-width 1: the profile at a phase is the median
	// over cycles of the mean of three neighbouring steps one, two, ...
	// cycles back. One cycle is wildly off (it spoils the windows of two
	// cycles at most): the median of seven ignores it.
	const period = 10
	r := newRing(100)
	var y []float64
	for c := 0; c < 8; c++ {
		for p := 0; p < period; p++ {
			v := float64(p)
			if c == 4 {
				v += 1000 // an incident cycle
			}
			y = append(y, v)
			r.push(v, true)
		}
	}
	m := &profile{r: r, period: period, seasons: profileSeasons, half: 1, phi: 1, means: make([]float64, 0, profileSeasons)}
	out := make([]float64, 3)
	m.forecast(out)
	for h := 1; h <= 3; h++ {
		p := (len(y) - 1 + h) % period
		// The mean of phases p-1, p, p+1 is p, except at phase 0, whose
		// window reaches back into the previous cycle's phase 9.
		want := float64(p)
		if p == 0 {
			want = (9 + 0 + 1) / 3.0 // phases 9 (previous cycle), 0, 1
		}
		if math.Abs(out[h-1]-want) > 1e-9 {
			t.Errorf("lead %d (phase %d): %v, want %v", h, p, out[h-1], want)
		}
	}
	// A level: the residual level carries today's offset into the forecast.
	m.lvl = 5
	m.forecast(out)
	if math.Abs(out[1]-(1+5)) > 1e-9 {
		t.Errorf("lead 2 with level 5: %v, want 6", out[1])
	}
}

func TestProfileBeatsSeasonalNaiveOnNoisyDailySeries(t *testing.T) {
	// A daily shape with strong minute-to-minute noise and a level that
	// changes from day to day: seasonal naive copies yesterday's noise,
	// the profile averages it away. Scored on the last two days, which
	// the fit never saw.
	step := time.Minute
	day := int(24 * time.Hour / step)
	rng := newRand(7)
	n := 12 * day
	levels := make([]float64, n/day+1)
	for d := range levels {
		levels[d] = 100 + 20*rng.NormFloat64()
	}
	s := generate(n, step, func(i int) float64 {
		shape := 60 * math.Sin(2*math.Pi*float64(i%day)/float64(day))
		return max(0, levels[i/day]+shape+25*rng.NormFloat64())
	})
	y, obs := s.dense()
	train := 10 * day
	h := 5
	r := ringFrom(y[:train], obs[:train], n, false)
	prof := fitProfile(r, y[:train], obs[:train], day, 0, h)
	naive := newSeasonalNaive(r, day, int(levelSpan/step))
	fp, fn := make([]float64, h), make([]float64, h)
	var ep, en float64
	for t0 := train - 1; t0+h < n; t0++ {
		prof.forecast(fp)
		naive.forecast(fn)
		ep += math.Abs(y[t0+h] - fp[h-1])
		en += math.Abs(y[t0+h] - fn[h-1])
		r.push(y[t0+1], true)
		prof.advance(y[t0+1])
		naive.advance(y[t0+1])
	}
	if !(ep < 0.8*en) {
		t.Errorf("lead-%d absolute error: profile %.0f, seasonal naive %.0f; want profile at least 20%% lower", h, ep, en)
	}
}

func TestRollingMax(t *testing.T) {
	rng := newRand(3)
	x := make([]float64, 200)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	got, dq := make([]float64, len(x)), make([]int, len(x))
	for _, w := range []int{17, 0, 1, 5, 2} { // buffers reused across widths, as refit does
		rollingMaxInto(got, x, w, dq)
		for i := range x {
			want := math.Inf(-1)
			for j := max(0, i-max(w, 1)+1); j <= i; j++ {
				want = math.Max(want, x[j])
			}
			if got[i] != want {
				t.Fatalf("w=%d i=%d: %v, want %v", w, i, got[i], want)
			}
		}
	}
}

func TestHoldServesLessAndStillCoversHeldPeaks(t *testing.T) {
	// On a noisy daily series the HPA holds the highest served value of
	// its stabilization window: scored that way, the quantile offset is
	// smaller (the noise is not paid for twice), and the held value still
	// covers the horizon's peak about as often as the quantile asks.
	step := time.Minute
	day := int(24 * time.Hour / step)
	s := noisyDaily(6, 30, 11)
	base := Settings{Step: step, WarmUp: 2 * 24 * time.Hour, Model: ModelHoltWinters}
	noHold := base
	noHold.Hold = step
	withHold := base
	withHold.Hold = 3 * time.Minute // fixed, not chosen
	a, b := replay(t, noHold, s), replay(t, withHold, s)
	from := 3 * day
	hold := 3
	var sumA, sumB float64
	covered, scored := 0, 0
	for i := from; i+5 < len(s.vals); i++ {
		sumA += a[i].Value
		sumB += b[i].Value
		held := 0.0
		for j := i - hold + 1; j <= i; j++ {
			held = math.Max(held, b[j].Value)
		}
		peak := 0.0
		for k := 1; k <= 5; k++ {
			peak = math.Max(peak, s.vals[i+k])
		}
		scored++
		if held >= peak {
			covered++
		}
	}
	if !(sumB < sumA) {
		t.Errorf("mean served with hold %.1f, without %.1f: want lower with hold", sumB/float64(scored), sumA/float64(scored))
	}
	if share := float64(covered) / float64(scored); share < 0.8 {
		t.Errorf("held served value covers the horizon peak %.0f%% of the time, want about 90%%", 100*share)
	}
}

func TestHoldChosenPerModelIsTheBestFixedHold(t *testing.T) {
	// With Hold zero every candidate is scored with each of HoldChoices
	// and keeps the best: its loss and hold are those of the fixed hold
	// that scores it lowest. The reactive yardstick keeps the shortest.
	step := time.Minute
	s := noisyDaily(5, 30, 11)
	scores := func(hold time.Duration) map[Model]CandidateScore {
		f, err := NewForecaster(Settings{Step: step, WarmUp: 2 * 24 * time.Hour, Hold: hold})
		if err != nil {
			t.Fatal(err)
		}
		for i := range s.ts {
			if err := f.Observe(s.ts[i], s.vals[i]); err != nil {
				t.Fatal(err)
			}
		}
		out := map[Model]CandidateScore{}
		for _, sc := range f.Scores() {
			out[sc.Model] = sc
		}
		if len(out) < 5 {
			t.Fatalf("hold %v: scores %+v, want every candidate", hold, f.Scores())
		}
		return out
	}
	chosen := scores(0)
	fixed := map[time.Duration]map[Model]CandidateScore{}
	for _, d := range HoldChoices {
		fixed[d] = scores(max(d, step))
		for m, sc := range fixed[d] {
			if sc.Hold != max(d, step) {
				t.Errorf("fixed hold %v: %s scored with hold %v", d, m, sc.Hold)
			}
		}
	}
	longer := 0
	for m, sc := range chosen {
		if m == ModelReactive {
			if sc.Hold != step {
				t.Errorf("reactive scored with hold %v, want one step", sc.Hold)
			}
			continue
		}
		best := CandidateScore{Loss: math.Inf(1)}
		for _, d := range HoldChoices {
			if f := fixed[d][m]; f.Loss < best.Loss {
				best = f
			}
		}
		if sc.Loss != best.Loss || sc.Hold != best.Hold || sc.Scale != best.Scale {
			t.Errorf("%s: chosen %+v, want the best fixed hold's %+v", m, sc, best)
		}
		if sc.Hold > time.Minute {
			longer++
		}
	}
	if longer == 0 {
		t.Errorf("no model chose a hold longer than a minute on a noisy series: %+v", chosen)
	}
}

// weekdaySeries is a daily shape on a weekly pattern of levels (a busy
// Monday, easing through the week, a quiet weekend; the series starts on
// a Monday) with noise, at 5 minutes.
func weekdaySeries(days int, seed uint64) (y []float64, obs []bool, day int) {
	step := 5 * time.Minute
	day = int(24 * time.Hour / step)
	rng := newRand(seed)
	levels := []float64{150, 120, 100, 100, 90, 50, 40}
	s := generate(days*day, step, func(i int) float64 {
		level := levels[(i/day)%7]
		shape := 1 + 0.6*math.Sin(2*math.Pi*float64(i%day)/float64(day))
		return max(0, level*shape+30*rng.NormFloat64())
	})
	y, obs = s.dense()
	return y, obs, day
}

func TestWeekdayAwareProfileBeatsPlainOnMondayMorning(t *testing.T) {
	// Fitted on two weeks ending on a quiet Sunday, both models forecast
	// the busy Monday. The plain profile is the median of all days, so its
	// residual level learns Sunday's low level and carries it into Monday
	// morning; the weekday-aware one expects each weekday's own level.
	// Three noise draws, scored on Monday 00:00-06:00.
	var errs [2]float64
	for _, seed := range []uint64{11, 12, 13} {
		y, obs, day := weekdaySeries(15, seed)
		week, h := 7*day, 5
		train := 14 * day
		for i, wk := range []int{0, week} {
			r := ringFrom(y[:train], obs[:train], len(y), false)
			m := fitProfile(r, y[:train], obs[:train], day, wk, h)
			fc := make([]float64, h)
			for t0 := train - 1; t0+h < len(y); t0++ {
				m.forecast(fc)
				if (t0+h)%day < day/4 {
					errs[i] += math.Abs(y[t0+h] - fc[h-1])
				}
				r.push(y[t0+1], true)
				m.advance(y[t0+1])
			}
		}
	}
	t.Logf("Monday 00:00-06:00 lead-5 absolute error: weekday-aware %.0f, plain %.0f", errs[1], errs[0])
	if !(errs[1] < 0.85*errs[0]) {
		t.Errorf("Monday 00:00-06:00 lead-5 absolute error: weekday-aware %.0f, plain %.0f; want at least 15%% lower", errs[1], errs[0])
	}
}

func TestWeekdayAwareProfileIsCausal(t *testing.T) {
	// Two series equal up to a step and different after it: the forecasts
	// made up to that step are the same.
	y, obs, day := weekdaySeries(15, 5)
	week, h := 7*day, 5
	train, cut := 14*day, 14*day+day/3
	z := slices.Clone(y)
	for i := cut + 1; i < len(z); i++ {
		z[i] *= 3
	}
	run := func(y []float64) []float64 {
		r := ringFrom(y[:train], obs[:train], len(y), false)
		m := fitProfile(r, y[:train], obs[:train], day, week, h)
		var out []float64
		fc := make([]float64, h)
		for t0 := train - 1; t0 <= cut; t0++ {
			m.forecast(fc)
			out = append(out, fc...)
			if t0 < cut {
				r.push(y[t0+1], true)
				m.advance(y[t0+1])
			}
		}
		return out
	}
	a, b := run(y), run(z)
	if !slices.Equal(a, b) {
		t.Error("forecasts up to a step depend on values after it")
	}
}

func TestRefitMakesTheProfileWeekdayAwareOnAWeeklySeries(t *testing.T) {
	y, obs, day := weekdaySeries(15, 3)
	st := Settings{Step: 5 * time.Minute, Model: ModelProfile}
	st.SetDefaults()
	c := refit(y, obs, st, len(y), -1, false, excursionPersistence(y, obs, st.Step))
	if !c.season.Weekly {
		t.Fatalf("seasonality %+v: want a weekly season", c.season)
	}
	p, ok := c.pred.(*profile)
	if !ok || p.week != 7*day {
		t.Fatalf("served %T %+v: want the weekday-aware profile (week %d)", c.pred, c.pred, 7*day)
	}
}
