package forecast

import (
	"math"

	"gonum.org/v1/gonum/optimize"
)

// arima is a fitted ARIMA(p,d,q) model with d in {0, 1}, fitted by
// conditional sum of squares. With d = 0 the series is centred on its mean.
type arima struct {
	p, d, q int
	phi     []float64 // AR coefficients: w_t = sum phi_i w_{t-i} + e_t + sum theta_j e_{t-j}
	theta   []float64 // MA coefficients
	mean    float64   // mean of the series when d = 0
	sigma2  float64   // residual variance
	aic     float64

	// online state
	last float64   // last value of the series
	w    []float64 // last p values of the (differenced, centred) series, newest first
	e    []float64 // last q residuals, newest first
	path []float64 // scratch for forecasting w ahead
}

func (m *arima) kind() Model     { return ModelARIMA }
func (m *arima) stateBytes() int { return 128 + 8*(2*(m.p+m.q)+len(m.path)) }

// transformed returns w_t for value y given the previous value.
func (m *arima) transformed(y float64) float64 {
	if m.d == 1 {
		return y - m.last
	}
	return y - m.mean
}

func (m *arima) predictW() float64 {
	var f float64
	for i, c := range m.phi {
		f += c * m.w[i]
	}
	for j, c := range m.theta {
		f += c * m.e[j]
	}
	return f
}

func (m *arima) advance(y float64) {
	wt := m.transformed(y)
	e := wt - m.predictW()
	shiftIn(m.w, wt)
	shiftIn(m.e, e)
	m.last = y
}

func shiftIn(s []float64, v float64) {
	if len(s) == 0 {
		return
	}
	copy(s[1:], s[:len(s)-1])
	s[0] = v
}

func (m *arima) forecast(out []float64) {
	// path holds w values newest first: future ones, then the known ones.
	h := len(out)
	need := h + m.p
	if cap(m.path) < need {
		m.path = make([]float64, need)
	}
	p := m.path[:need]
	// p[h .. h+p) = known w, newest at p[h]
	for i := 0; i < m.p; i++ {
		p[h+i] = m.w[i]
	}
	level := m.last
	for k := 1; k <= h; k++ {
		idx := h - k // position of w_{t+k}
		var f float64
		for i, c := range m.phi {
			f += c * p[idx+1+i]
		}
		for j, c := range m.theta {
			if j+1 >= k { // e_{t+k-1-j} known only if k-1-j <= 0
				f += c * m.e[j+1-k]
			}
		}
		p[idx] = f
		if m.d == 1 {
			level += f
			out[k-1] = level
		} else {
			out[k-1] = m.mean + f
		}
	}
}

// pacfToCoef maps partial autocorrelations in (-1, 1) to the coefficients of a
// stationary AR polynomial 1 - a_1 z - ... - a_k z^k (Durbin-Levinson), so
// every r in (-1,1)^k gives a polynomial with all roots outside the unit circle.
func pacfToCoef(r []float64, a []float64) {
	tmp := make([]float64, len(r))
	for k := range r {
		a[k] = r[k]
		for j := 0; j < k; j++ {
			tmp[j] = a[j] - r[k]*a[k-1-j]
		}
		copy(a[:k], tmp[:k])
	}
}

// arimaSeries returns the series CSS works on: differenced when d = 1,
// centred on its mean when d = 0, with its observed mask.
func arimaSeries(y []float64, obs []bool, d int) (w []float64, wobs []bool, mean float64) {
	if d == 1 {
		w = make([]float64, len(y)-1)
		wobs = make([]bool, len(y)-1)
		for t := 1; t < len(y); t++ {
			w[t-1] = y[t] - y[t-1]
			wobs[t-1] = obs[t] && obs[t-1]
		}
		return w, wobs, 0
	}
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	w = make([]float64, len(y))
	for t, v := range y {
		w[t] = v - mean
	}
	return w, append([]bool(nil), obs...), mean
}

// css returns the conditional sum of squares of ARMA(phi, theta) on w from
// index start, and the count of terms.
func css(w []float64, wobs []bool, phi, theta []float64, start int, e []float64) (float64, int) {
	var sum float64
	cnt := 0
	for t := range e[:start] {
		e[t] = 0
	}
	for t := start; t < len(w); t++ {
		f := 0.0
		for i, c := range phi {
			f += c * w[t-1-i]
		}
		for j, c := range theta {
			if t-1-j >= 0 {
				f += c * e[t-1-j]
			}
		}
		et := w[t] - f
		if !wobs[t] {
			et = 0
		} else {
			sum += et * et
			cnt++
		}
		e[t] = et
	}
	return sum, cnt
}

// fitARMA fits ARMA(p,q) to w by CSS from index start with Nelder-Mead over
// unconstrained parameters mapped through tanh and Durbin-Levinson, which
// enforces stationarity (AR) and invertibility (MA).
func fitARMA(w []float64, wobs []bool, p, q, start int) (phi, theta []float64, sse float64, cnt int) {
	phi = make([]float64, p)
	theta = make([]float64, q)
	e := make([]float64, len(w))
	r := make([]float64, max(p, q))
	mapU := func(u []float64) {
		for i := 0; i < p; i++ {
			r[i] = pacfBound * math.Tanh(u[i])
		}
		pacfToCoef(r[:p], phi)
		for j := 0; j < q; j++ {
			r[j] = pacfBound * math.Tanh(u[p+j])
		}
		pacfToCoef(r[:q], theta)
		for j := range theta {
			theta[j] = -theta[j]
		}
	}
	if p+q == 0 {
		sse, cnt = css(w, wobs, nil, nil, start, e)
		return phi, theta, sse, cnt
	}
	f := func(u []float64) float64 {
		mapU(u)
		s, _ := css(w, wobs, phi, theta, start, e)
		if math.IsNaN(s) {
			return math.MaxFloat64
		}
		return s
	}
	x0 := make([]float64, p+q)
	if p > 0 {
		x0[0] = math.Atanh(clamp(lag1(w), -0.9, 0.9) / pacfBound)
	}
	res, err := optimize.Minimize(optimize.Problem{Func: f}, x0,
		&optimize.Settings{FuncEvaluations: 100 * (p + q + 1), Converger: &optimize.FunctionConverge{Relative: 1e-7, Iterations: 20}},
		&optimize.NelderMead{})
	best := x0
	if err == nil && res != nil {
		best = res.X
	} else if res != nil && res.X != nil {
		best = res.X
	}
	mapU(best)
	sse, cnt = css(w, wobs, phi, theta, start, e)
	return phi, theta, sse, cnt
}

func lag1(w []float64) float64 {
	var num, den float64
	for t := 1; t < len(w); t++ {
		num += w[t] * w[t-1]
	}
	for _, v := range w {
		den += v * v
	}
	if den == 0 {
		return 0
	}
	return num / den
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

const arimaMaxP = 2

// pacfBound keeps partial autocorrelations a little inside (-1, 1), so the
// fitted polynomials stay stationary and invertible in floating point too.
const pacfBound = 0.999

// fitARIMA chooses (p, d, q) over a small grid (d in {0, 1}, p <= 2,
// q <= 1) by AIC, fitting each order by CSS. The residuals of every order
// are one-step errors of the same values of y over the same steps, so the
// AIC is comparable across d. The returned model's state is at the end of y.
func fitARIMA(y []float64, obs []bool) *arima {
	grid := [][2]int{{0, 0}, {1, 0}, {2, 0}, {0, 1}, {1, 1}, {2, 1}}
	var best *arima
	for d := 0; d <= 1; d++ {
		w, wobs, mean := arimaSeries(y, obs, d)
		start := arimaMaxP + 1 - d // w index of y index arimaMaxP+1
		for _, o := range grid {
			p, q := o[0], o[1]
			phi, theta, sse, cnt := fitARMA(w, wobs, p, q, start)
			if cnt <= p+q+2 {
				continue
			}
			s2 := math.Max(sse/float64(cnt), 1e-300)
			k := p + q + 1
			if d == 0 {
				k++
			}
			aic := float64(cnt)*math.Log(s2) + 2*float64(k)
			if best == nil || aic < best.aic {
				best = &arima{p: p, d: d, q: q, phi: phi, theta: theta, mean: mean, sigma2: s2, aic: aic}
			}
		}
	}
	if best == nil {
		best = &arima{d: 1}
	}
	best.w = make([]float64, best.p)
	best.e = make([]float64, best.q)
	best.last = y[0]
	from := 0
	if best.d == 1 {
		from = 1
	}
	for _, v := range y[from:] {
		best.advance(v)
	}
	return best
}
