package forecast

import (
	"math"
	"testing"
	"time"
)

// multiplicativeLoad is a load whose daily swing scales with a weekly
// level and a trend that bends once: trend * daily * weekly.
func multiplicativeLoad(step time.Duration, trendAt func(t int) float64) func(t int) float64 {
	day := float64(24 * time.Hour / step)
	return func(t int) float64 {
		d := 1 + 0.6*math.Sin(2*math.Pi*float64(t)/day)
		w := 1 + 0.4*math.Cos(2*math.Pi*float64(t)/(7*day))
		return trendAt(t) * d * w
	}
}

func TestProphetRecoversMultiplicativeShapeWithTrend(t *testing.T) {
	step := 15 * time.Minute
	day := int(24 * time.Hour / step)
	week := 7 * day
	n := 2 * week
	// The trend rises 1% a day for the first week, then falls 1% a day.
	trend := func(t int) float64 {
		u := float64(t) / float64(day)
		if u < 7 {
			return 100 * math.Exp(0.01*u)
		}
		return 100 * math.Exp(0.07-0.01*(u-7))
	}
	f := multiplicativeLoad(step, trend)
	y := make([]float64, n+day)
	for t := range y {
		y[t] = f(t)
	}
	terms := []fourierTerm{{day, 3}, {week, 2}}
	m := fitProphet(y[:n], allObserved(n), terms, 4, prophetChangepoints)
	a := fitFourier(y[:n], allObserved(n), terms, 4)
	// The regression alone, a day past the fitted window: the shape is
	// exact on the log scale and the trend continues with its last slope.
	var worstP, worstF float64
	for t := n; t < n+day; t++ {
		worstP = math.Max(worstP, math.Abs(m.value(m.z(t))-y[t])/y[t])
		worstF = math.Max(worstF, math.Abs(a.fitValue(t)-y[t])/y[t])
	}
	t.Logf("worst relative error a day ahead: prophet %.4f, fourier %.4f", worstP, worstF)
	if worstP > 0.05 {
		t.Errorf("prophet's worst relative error a day ahead = %.4f, want <= 0.05", worstP)
	}
	// The Fourier regression of the same harmonics (additive, no trend)
	// cannot represent the product.
	if worstF < 3*worstP {
		t.Errorf("fourier's worst relative error %.4f is not well above prophet's %.4f", worstF, worstP)
	}
}

func TestProphetCausal(t *testing.T) {
	// The forecast from step k depends on steps up to k only: changing
	// what comes after k (the fit window ends at k) leaves it unchanged.
	step := 15 * time.Minute
	day := int(24 * time.Hour / step)
	n := 10 * day
	f := multiplicativeLoad(step, func(int) float64 { return 50 })
	y := make([]float64, n)
	for t := range y {
		y[t] = f(t) + 3*math.Sin(float64(t)*1.7)
	}
	k := 9 * day
	terms := []fourierTerm{{day, 4}}
	m1 := fitProphet(y[:k], allObserved(k), terms, 4, prophetChangepoints)
	out1 := make([]float64, 4)
	m1.forecast(out1)
	z := append([]float64(nil), y...)
	for t := k; t < n; t++ {
		z[t] *= 5
	}
	m2 := fitProphet(z[:k], allObserved(k), terms, 4, prophetChangepoints)
	out2 := make([]float64, 4)
	m2.forecast(out2)
	for h := range out1 {
		if out1[h] != out2[h] {
			t.Fatalf("lead %d: %v, then %v after changing later samples", h+1, out1[h], out2[h])
		}
	}
}

// FuzzProphetFit fits the model on arbitrary series with gaps, zeros,
// spikes and flat stretches: the fit and its forecasts after further
// steps must stay finite.
func FuzzProphetFit(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{1, 200, 7, 0, 0, 255, 3, 3, 3, 90})
	f.Add([]byte{255, 0, 255, 0, 128})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		const day = 96 // 15-minute steps
		n := 2*day + len(data)%day
		y := make([]float64, n)
		obs := make([]bool, n)
		for i := range y {
			b := data[i%len(data)]
			obs[i] = b%5 != 0 // gaps where the byte is a multiple of 5
			switch {
			case b < 40:
				y[i] = 0
			case b > 250:
				y[i] = 1e9 // a spike
			default:
				y[i] = float64(b) * (1 + 0.5*math.Sin(2*math.Pi*float64(i)/day))
			}
		}
		m := fitProphet(y, obs, []fourierTerm{{day, 4}}, 4, prophetChangepoints)
		out := make([]float64, 4)
		for i := 0; i < day; i++ {
			m.advance(y[i])
			m.forecast(out)
			for h, v := range out {
				if !isFinite(v) {
					t.Fatalf("step %d lead %d: forecast %v", i, h+1, v)
				}
			}
		}
	})
}

func TestProphetThroughForecasterWithGapsAndZeros(t *testing.T) {
	// A multiplicative daily x weekly load at 5-minute steps with a
	// nightly hour of zeros and an hour-long gap every other day: the
	// forecaster serves prophet, finite and floored at the observed value.
	step := 5 * time.Minute
	day := int(24 * time.Hour / step)
	f := multiplicativeLoad(step, func(t int) float64 { return 200 })
	s := generate(15*day, step, func(t int) float64 {
		if t%day < day/24 {
			return 0
		}
		return f(t)
	})
	var g series
	g.step = step
	for i := range s.ts {
		if (i/day)%2 == 1 && i%day >= day/2 && i%day < day/2+day/24 {
			continue
		}
		g.ts = append(g.ts, s.ts[i])
		g.vals = append(g.vals, s.vals[i])
	}
	st := Settings{Step: step, Model: ModelProphet}
	out := replay(t, st, g)
	served := 0
	for i, fc := range out {
		if !isFinite(fc.Value) || fc.Value < fc.Observed {
			t.Fatalf("row %d: served %+v", i, fc)
		}
		if fc.Model == ModelProphet {
			served++
		}
	}
	if served < len(out)/2 {
		t.Errorf("prophet served %d of %d rows", served, len(out))
	}
}

func TestProphetBeatsFourierOnNoisyMultiplicativeLoad(t *testing.T) {
	// A growing load whose daily swing scales with the day (weekends at
	// half the level), with multiplicative noise: the additive Fourier
	// regression of the same harmonics can neither shrink the swing on
	// quiet days nor follow the growth. Both regressions (without the
	// residual level, which corrects either at short leads) are scored on
	// the two days after the fitted window, which the fits never saw.
	step := 5 * time.Minute
	day := int(24 * time.Hour / step)
	rng := newRand(5)
	n := 16 * day
	s := generate(n, step, func(i int) float64 {
		d := float64(i) / float64(day)
		week := 1.0
		if (i/day)%7 >= 5 {
			week = 0.5
		}
		shape := 1 + 0.7*math.Sin(2*math.Pi*float64(i%day)/float64(day))
		return 100 * math.Exp(0.02*d) * week * shape * math.Exp(0.15*rng.NormFloat64())
	})
	y, obs := s.dense()
	train := 14 * day
	terms := []fourierTerm{{day, dailyHarmonics}, {7 * day, weeklyHarmonics}}
	pr := fitProphet(y[:train], obs[:train], terms, 6, prophetChangepoints)
	fo := fitFourier(y[:train], obs[:train], terms, 6)
	var ep, ef float64
	for t := train; t < n; t++ {
		ep += math.Abs(y[t] - pr.value(pr.z(t)))
		ef += math.Abs(y[t] - fo.fitValue(t))
	}
	if !(ep < 0.85*ef) {
		t.Errorf("absolute error of the regression over the next two days: prophet %.0f, fourier %.0f; want prophet at least 15%% lower", ep, ef)
	}
}
