package forecast

import (
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"
)

// rootsOutside reports whether 1 - a_1 z - ... - a_k z^k has all roots
// outside the unit circle, i.e. the companion matrix has all eigenvalues inside.
func rootsOutside(a []float64) bool {
	k := len(a)
	if k == 0 {
		return true
	}
	c := mat.NewDense(k, k, nil)
	for j := 0; j < k; j++ {
		c.Set(0, j, a[j])
	}
	for i := 1; i < k; i++ {
		c.Set(i, i-1, 1)
	}
	var eig mat.Eigen
	if !eig.Factorize(c, mat.EigenNone) {
		return false
	}
	for _, v := range eig.Values(nil) {
		if cmplx.Abs(v) >= 1 {
			return false
		}
	}
	return true
}

func TestPACFMapEnforcesStationarity(t *testing.T) {
	rng := newRand(1)
	for trial := 0; trial < 500; trial++ {
		k := 1 + trial%4
		r := make([]float64, k)
		for i := range r {
			r[i] = pacfBound * math.Tanh(3*rng.NormFloat64()) // often at the bound
		}
		a := make([]float64, k)
		pacfToCoef(r, a)
		if !rootsOutside(a) {
			t.Fatalf("pacf %v mapped to non-stationary coefficients %v", r, a)
		}
	}
	// Known value: AR(2) with pacf (r1, r2) has a2 = r2, a1 = r1(1 - r2).
	a := make([]float64, 2)
	pacfToCoef([]float64{0.5, -0.3}, a)
	if math.Abs(a[0]-0.65) > 1e-12 || math.Abs(a[1]+0.3) > 1e-12 {
		t.Errorf("pacfToCoef(0.5, -0.3) = %v, want [0.65 -0.3]", a)
	}
}

func simulateARMA(n int, phi, theta []float64, seed uint64) []float64 {
	rng := newRand(seed)
	y := make([]float64, n+200)
	e := make([]float64, n+200)
	for t := range y {
		e[t] = rng.NormFloat64()
		y[t] = e[t]
		for i, c := range phi {
			if t-1-i >= 0 {
				y[t] += c * y[t-1-i]
			}
		}
		for j, c := range theta {
			if t-1-j >= 0 {
				y[t] += c * e[t-1-j]
			}
		}
	}
	return y[200:]
}

func allObserved(n int) []bool {
	o := make([]bool, n)
	for i := range o {
		o[i] = true
	}
	return o
}

func TestARIMAChoosesAR2ByAIC(t *testing.T) {
	y := simulateARMA(3000, []float64{0.5, -0.3}, nil, 42)
	for i := range y {
		y[i] += 50
	}
	m := fitARIMA(y, allObserved(len(y)))
	if m.p != 2 || m.d != 0 || m.q != 0 {
		t.Fatalf("chose ARIMA(%d,%d,%d), want (2,0,0)", m.p, m.d, m.q)
	}
	if math.Abs(m.phi[0]-0.5) > 0.06 || math.Abs(m.phi[1]+0.3) > 0.06 {
		t.Errorf("phi = %v, want about [0.5 -0.3]", m.phi)
	}
	if math.Abs(m.mean-50) > 0.2 {
		t.Errorf("mean %v, want about 50", m.mean)
	}
}

func TestARIMAEnforcesInvertibilityAndStationarity(t *testing.T) {
	// A non-invertible MA(1) (theta = 2) has the same autocorrelations as
	// the invertible theta = 0.5; the fit must return the invertible one.
	y := simulateARMA(3000, nil, []float64{2}, 5)
	m := fitARIMA(y, allObserved(len(y)))
	negTheta := make([]float64, len(m.theta))
	for i, v := range m.theta {
		negTheta[i] = -v
	}
	if !rootsOutside(m.phi) || !rootsOutside(negTheta) {
		t.Fatalf("fit ARIMA(%d,%d,%d) phi %v theta %v is not stationary and invertible", m.p, m.d, m.q, m.phi, m.theta)
	}
	// An explosive series: the fit still returns a stationary AR part.
	x := make([]float64, 500)
	x[0] = 1
	for i := 1; i < len(x); i++ {
		x[i] = 1.02*x[i-1] + 0.1*math.Sin(float64(i))
	}
	m2 := fitARIMA(x, allObserved(len(x)))
	if !rootsOutside(m2.phi) {
		t.Errorf("explosive input gave non-stationary phi %v", m2.phi)
	}
	out := make([]float64, 10)
	m2.forecast(out)
	for _, v := range out {
		if !isFinite(v) {
			t.Fatalf("non-finite forecast %v", out)
		}
	}
}

func TestARIMARandomWalkDifferences(t *testing.T) {
	rng := newRand(9)
	y := make([]float64, 2000)
	for i := 1; i < len(y); i++ {
		y[i] = y[i-1] + rng.NormFloat64()
	}
	m := fitARIMA(y, allObserved(len(y)))
	if m.d != 1 && (m.p == 0 || m.phi[0] < 0.95) {
		t.Errorf("random walk fit as ARIMA(%d,%d,%d) phi %v: want a unit or near-unit root", m.p, m.d, m.q, m.phi)
	}
	out := make([]float64, 5)
	m.forecast(out)
	if math.Abs(out[4]-y[len(y)-1]) > 1 {
		t.Errorf("random walk forecast %v, want near the last value %v", out, y[len(y)-1])
	}
}

func TestHoltWintersRecoversParameters(t *testing.T) {
	want := hwParams{Alpha: 0.3, Beta: 0.1, Gamma: 0.2, Phi: 0.9}
	const period = 24
	rng := newRand(13)
	gen := &holtWinters{p: want, period: period, level: 100, trend: 0.5, season: make([]float64, period)}
	for i := range gen.season {
		gen.season[i] = 10 * math.Sin(2*math.Pi*float64(i)/period)
	}
	n := period * 200
	y := make([]float64, n)
	for t := range y {
		e := rng.NormFloat64()
		y[t] = gen.next() + e
		gen.update(y[t], e)
	}
	m := fitHoltWinters(y, allObserved(n), period, 1)
	if math.Abs(m.p.Alpha-want.Alpha) > 0.1 || math.Abs(m.p.Gamma-want.Gamma) > 0.1 || math.Abs(m.p.Phi-want.Phi) > 0.08 {
		t.Errorf("fitted %+v, want about %+v", m.p, want)
	}
	if m.p.Gamma > 1-m.p.Alpha || m.p.Phi < 0.8 || m.p.Phi > 0.98 {
		t.Errorf("fitted %+v outside the admissible region", m.p)
	}
}

func TestFourierFitsTwoPeriods(t *testing.T) {
	step := 15 * time.Minute
	day := int(24 * time.Hour / step)
	week := 7 * day
	n := 3 * week
	y := make([]float64, n)
	for t := range y {
		y[t] = 50 + 10*math.Sin(2*math.Pi*float64(t)/float64(day)) + 5*math.Cos(2*math.Pi*float64(t)/float64(week))
	}
	m := fitFourier(y[:2*week], allObserved(2*week), []fourierTerm{{day, 4}, {week, 2}}, 4)
	for t := 2 * week; t < n; t++ {
		m.advance(y[t])
	}
	out := make([]float64, 4)
	m.forecast(out)
	for h := 1; h <= 4; h++ {
		want := 50 + 10*math.Sin(2*math.Pi*float64(n-1+h)/float64(day)) + 5*math.Cos(2*math.Pi*float64(n-1+h)/float64(week))
		if math.Abs(out[h-1]-want) > 1e-3 {
			t.Errorf("lead %d: %v, want %v", h, out[h-1], want)
		}
	}
}

func TestSeasonalNaiveLevelAdjusted(t *testing.T) {
	r := newRing(100)
	// period 10; the level rises by 5 for the last half season.
	for i := 0; i < 25; i++ {
		v := float64(i % 10)
		if i >= 20 {
			v += 5
		}
		r.push(v, true)
	}
	m := newSeasonalNaive(r, 10, 2)
	out := make([]float64, 3)
	m.forecast(out)
	for h := 1; h <= 3; h++ {
		want := float64((24+h)%10) + 5
		if out[h-1] != want {
			t.Errorf("lead %d: %v, want %v", h, out[h-1], want)
		}
	}
}

func TestLinearIsPredictLinear(t *testing.T) {
	r := newRing(50)
	for i := 0; i < 50; i++ {
		r.push(3+2*float64(i), true)
	}
	m := &linearTrend{r: r, window: 10}
	out := make([]float64, 5)
	m.forecast(out)
	for h := 1; h <= 5; h++ {
		if want := 3 + 2*float64(49+h); math.Abs(out[h-1]-want) > 1e-9 {
			t.Errorf("lead %d: %v, want %v", h, out[h-1], want)
		}
	}
}

func TestPageHinkley(t *testing.T) {
	rng := newRand(21)
	p := newPageHinkley(1, 1)
	for i := 0; i < 20000; i++ {
		if p.add(rng.NormFloat64()) {
			t.Fatalf("alarm on zero-mean noise after %d steps", i)
		}
	}
	if p.add(1e9) {
		t.Fatal("a single outlier raised an alarm")
	}
	p.reset()
	fired := -1
	for i := 0; i < 1000; i++ {
		if p.add(3 + rng.NormFloat64()) {
			fired = i
			break
		}
	}
	if fired < 0 || fired > 100 {
		t.Errorf("a step of 3 sd in the errors alarmed after %d steps, want within 100", fired)
	}
}

// With blocks of four, the test moves once per four errors, on their mean,
// standardised by the spread of such means: the same shift alarms after
// the same number of blocks as single errors do, and a run of correlated
// errors shorter than a block is averaged away.
func TestPageHinkleyAveragesBlocks(t *testing.T) {
	rng := newRand(22)
	p := newPageHinkley(0.5, 4) // the spread of means of 4 independent unit errors
	for i := 0; i < 80000; i++ {
		if p.add(rng.NormFloat64()) {
			t.Fatalf("alarm on zero-mean noise after %d errors", i)
		}
	}
	p.reset()
	for i := 0; i < 3; i++ { // less than a block, however large
		if p.add(1e9) {
			t.Fatalf("alarm on error %d of an unfinished block", i)
		}
	}
	p.reset()
	fired := -1
	for i := 0; i < 4000; i++ {
		if p.add(1.5 + rng.NormFloat64()) { // 3 spreads of a block's mean
			fired = i
			break
		}
	}
	if fired < 0 || fired > 400 || fired%4 != 3 {
		t.Errorf("a step of 3 block spreads alarmed after error %d, want at the end of a block within 100 blocks", fired)
	}
}

func TestBlockSpread(t *testing.T) {
	x := []float64{1, 3, 5, 7, 100} // blocks of 2: means 2 and 6; the partial block is left out
	if got := blockSpread(x, 2); math.Abs(got-2) > 1e-12 {
		t.Errorf("blockSpread = %v, want 2", got)
	}
	if got := blockSpread(x[:4], 1); math.Abs(got-math.Sqrt(5)) > 1e-12 {
		t.Errorf("blockSpread with blocks of one = %v, want the plain standard deviation %v", got, math.Sqrt(5))
	}
}

func TestRing(t *testing.T) {
	r := newRing(5)
	for i := 0; i < 7; i++ {
		r.push(float64(i), i%2 == 0)
	}
	if r.len() != 5 {
		t.Fatalf("len %d, want 5", r.len())
	}
	y, obs := r.copyOut()
	for i, v := range y {
		if v != float64(i+2) || obs[i] != ((i+2)%2 == 0) {
			t.Fatalf("copyOut = %v %v", y, obs)
		}
	}
	if r.back(0) != 6 || !math.IsNaN(r.back(5)) || r.observedBack(5) {
		t.Errorf("back(0)=%v back(5)=%v", r.back(0), r.back(5))
	}
}

func TestQuantileAndPinball(t *testing.T) {
	x := []float64{5, 1, math.NaN(), 3, 2, 4}
	s := make([]float64, 0, len(x))
	if q := quantileOf(x, 0.5, s); q != 3 {
		t.Errorf("median %v, want 3", q)
	}
	if q := quantileOf(x, 0.9, s); math.Abs(q-4.6) > 1e-12 {
		t.Errorf("0.9 quantile %v, want 4.6", q)
	}
	if pinball(10, 8, 0.9) != 0.9*2 || math.Abs(pinball(8, 10, 0.9)-0.1*2) > 1e-12 {
		t.Error("pinball: under-forecasts must cost q, over-forecasts 1-q per unit")
	}
}

// quantileOf and medianInPlace select order statistics instead of
// sorting: they must return what the sorted values give, with ties, NaNs
// (quantileOf) and every size from one value up.
func TestQuantileOfMatchesSortedInterpolation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for n := 1; n <= 300; n += 1 + n/10 {
		for trial := 0; trial < 5; trial++ {
			x := make([]float64, n)
			for i := range x {
				switch {
				case trial == 1:
					x[i] = float64(rng.IntN(4)) // many ties
				case trial == 2 && rng.IntN(5) == 0:
					x[i] = math.NaN()
				default:
					x[i] = rng.NormFloat64()
				}
			}
			var sorted []float64
			for _, v := range x {
				if !math.IsNaN(v) {
					sorted = append(sorted, v)
				}
			}
			slices.Sort(sorted)
			if len(sorted) == n { // no NaN: medianInPlace selects the same way
				k := n / 2
				want := sorted[k]
				if n%2 == 0 {
					want = (sorted[k-1] + sorted[k]) / 2
				}
				if got := medianInPlace(slices.Clone(x)); got != want {
					t.Fatalf("n=%d trial=%d: medianInPlace %v, want %v", n, trial, got, want)
				}
			}
			for _, q := range []float64{0, 0.1, 0.5, 0.9, 0.97, 1} {
				got := quantileOf(x, q, make([]float64, 0, n))
				if len(sorted) == 0 {
					if !math.IsNaN(got) {
						t.Fatalf("n=%d q=%v: %v for no finite value, want NaN", n, q, got)
					}
					continue
				}
				pos := q * float64(len(sorted)-1)
				lo := int(math.Floor(pos))
				hi := min(lo+1, len(sorted)-1)
				want := sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
				if math.Abs(got-want) > 1e-12 {
					t.Fatalf("n=%d trial=%d q=%v: %v, want %v", n, trial, q, got, want)
				}
			}
		}
	}
}

// The residual level of the seasonal regressions is fitted on four days
// of recent history at any step (and on at least minResidualSteps).
func TestResidualSpanIsFourDaysAtAnyStep(t *testing.T) {
	for _, c := range []struct {
		step time.Duration
		want int
	}{
		{15 * time.Second, 4 * 5760}, // four days of 15 s steps
		{time.Minute, 4 * 1440},
		{5 * time.Minute, minResidualSteps}, // four days are 1,152 steps: the floor
	} {
		day := int(24 * time.Hour / c.step)
		terms := []fourierTerm{{period: 7 * day, harmonics: 2}, {period: day, harmonics: 3}}
		if got := residualSpan(terms); got != c.want {
			t.Errorf("step %v: residual span %d steps, want %d", c.step, got, c.want)
		}
	}
}

// The scorer's log shift is the series' noise floor: the median absolute
// change between consecutive observed steps (a gap's interpolated steps
// do not count), and at least 1% of the mean.
func TestLogShiftIsTheNoiseFloor(t *testing.T) {
	y := []float64{0, 3, 1, 5, 5, 9, 10, 0}
	obs := []bool{true, true, true, true, false, true, true, true}
	// Observed pairs: |3-0| |1-3| |5-1| |10-9| |0-10| = 3 2 4 1 10: median 3.
	if got := logShift(y, obs); got != 3 {
		t.Errorf("logShift = %v, want the median step change 3", got)
	}
	smooth := []float64{100, 100, 100.5, 100.5, 101}
	if got := logShift(smooth, []bool{true, true, true, true, true}); math.Abs(got-1.004) > 1e-12 {
		t.Errorf("logShift of a smooth series = %v, want 1%% of its mean (1.004)", got)
	}
	if got := logShift([]float64{0, 0, 0}, []bool{true, true, true}); got != 1 {
		t.Errorf("logShift of zeros = %v, want 1", got)
	}
}

// The offset scales are the powers 0, ¼, ½, ¾ and 1 of the forecast, in
// that order (model choice prefers the earlier one on a tie).
func TestOffsetScalesArePowersOfTheForecast(t *testing.T) {
	powers := []float64{0, 0.25, 0.5, 0.75, 1}
	if len(offsetScales) != len(powers) {
		t.Fatalf("scales %v, want %d", offsetScales, len(powers))
	}
	for i, m := range offsetScales {
		for _, f := range []float64{0.3, 1, 7, 250, -16} {
			want := math.Pow(math.Abs(f), powers[i])
			if got := m.unit(f); math.Abs(got-want) > 1e-12*want {
				t.Errorf("%s.unit(%v) = %v, want |f|^%v = %v", m, f, got, powers[i], want)
			}
		}
	}
}

// Seasonal naive forecasts yesterday's samples: on a noisy series the
// highest of them over the horizon is mostly yesterday's noise, which the
// offset covers already, so model choice reads the horizon's mean; on a
// smooth series that rises within every horizon it reads the peak. What
// the forecaster serves reads the same statistic.
func TestModelChoiceReadsTheHorizonPeakOrMean(t *testing.T) {
	step := time.Minute
	day := int(24 * time.Hour / step)
	noisy := noisyDaily(4, 40, 5)
	// A sawtooth of 10-minute ramps: every 5-minute horizon rises.
	ramps := generate(4*day, step, func(i int) float64 { return 100 + 20*float64(i%10) })
	for _, c := range []struct {
		name string
		s    series
		want HorizonStat
	}{{"noisy", noisy, HorizonMean}, {"ramps", ramps, HorizonPeak}} {
		f, err := NewForecaster(Settings{Step: step, WarmUp: 2 * 24 * time.Hour, Model: ModelSeasonalNaive})
		if err != nil {
			t.Fatal(err)
		}
		var out Forecast
		for i := range c.s.ts {
			if err := f.Observe(c.s.ts[i], c.s.vals[i]); err != nil {
				t.Fatal(err)
			}
			out = f.Serve()
		}
		var got CandidateScore
		for _, sc := range f.Scores() {
			if sc.Model == ModelSeasonalNaive {
				got = sc
			}
		}
		if got.Stat != c.want {
			t.Errorf("%s: seasonal naive scored %+v, want it to read the horizon's %s", c.name, got, c.want)
		}
		point, upper := make([]float64, 5), make([]float64, 5)
		n := f.Path(point, upper)
		if out.Model != ModelSeasonalNaive {
			t.Fatalf("%s: served %s (%s), want seasonal naive", c.name, out.Model, out.Reason)
		}
		if want := c.want.of(point[:n]); math.Abs(out.Predicted-want) > 1e-9 {
			t.Errorf("%s: Predicted %v, want the %s of the point forecast %v = %v", c.name, out.Predicted, c.want, point[:n], want)
		}
		// The reason names how the served value is read, so an operator
		// sees it in the log.
		if want := fmt.Sprintf("seasonal-naive reads the horizon's %s with a %s margin, a hold of %s and %s;", c.want, got.Scale, got.Hold, describeFloor(got.Floor)); !strings.Contains(out.Reason, want) {
			t.Errorf("%s: reason %q does not name the way seasonal naive serves, %s", c.name, out.Reason, want)
		}
	}
}
