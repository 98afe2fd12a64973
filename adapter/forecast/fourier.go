package forecast

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// fourierTerm is one period of a Fourier regression with its harmonic count.
type fourierTerm struct {
	period    int // in steps
	harmonics int
}

// fourier regresses the series on harmonics of its detected periods (plus an
// intercept) and corrects the regression with a damped, smoothed level of
// its recent residuals: forecast(t+h) = fit(t+h) + phi^h * L_t.
type fourier struct {
	terms []fourierTerm
	coef  []float64 // intercept, then cos/sin pairs per term and harmonic
	alpha float64   // smoothing of the residual level
	phi   float64   // damping of the residual level per step
	t     int       // index of the latest step (relative to the fit origin)
	lvl   float64   // smoothed residual level
}

func (m *fourier) kind() Model     { return ModelFourier }
func (m *fourier) stateBytes() int { return 96 + 8*len(m.coef) + 16*len(m.terms) }

func fourierWidth(terms []fourierTerm) int {
	w := 1
	for _, tm := range terms {
		w += 2 * tm.harmonics
	}
	return w
}

// row writes the regressors at step t into x.
func fourierRow(terms []fourierTerm, t int, x []float64) {
	x[0] = 1
	j := 1
	for _, tm := range terms {
		ph := t % tm.period
		if ph < 0 {
			ph += tm.period
		}
		s1, c1 := math.Sincos(2 * math.Pi * float64(ph) / float64(tm.period))
		c, s := c1, s1
		for k := 1; k <= tm.harmonics; k++ {
			x[j], x[j+1] = c, s
			j += 2
			c, s = c*c1-s*s1, s*c1+c*s1
		}
	}
}

// fitValue returns the regression's value at step t.
func (m *fourier) fitValue(t int) float64 {
	v := m.coef[0]
	j := 1
	for _, tm := range m.terms {
		ph := t % tm.period
		if ph < 0 {
			ph += tm.period
		}
		s1, c1 := math.Sincos(2 * math.Pi * float64(ph) / float64(tm.period))
		c, s := c1, s1
		for k := 1; k <= tm.harmonics; k++ {
			v += m.coef[j]*c + m.coef[j+1]*s
			j += 2
			c, s = c*c1-s*s1, s*c1+c*s1
		}
	}
	return v
}

func (m *fourier) advance(y float64) {
	m.t++
	r := y - m.fitValue(m.t)
	m.lvl += m.alpha * (r - m.lvl)
}

func (m *fourier) forecast(out []float64) {
	d := 1.0
	for h := 1; h <= len(out); h++ {
		d *= m.phi
		out[h-1] = m.fitValue(m.t+h) + d*m.lvl
	}
}

// maxFourierRows bounds the rows of the regression; longer series are
// subsampled evenly (the harmonics are smooth, so this loses little).
const maxFourierRows = 12000

// fitFourier fits the regression by least squares on the observed steps of
// y (ridge-stabilised normal equations), then the residual-level smoothing
// and damping by grid search on the lead-h error. The state ends after y.
func fitFourier(y []float64, obs []bool, terms []fourierTerm, h int) *fourier {
	p := fourierWidth(terms)
	xtx := mat.NewSymDense(p, nil)
	xty := mat.NewVecDense(p, nil)
	x := make([]float64, p)
	stride := max(1, (len(y)+maxFourierRows-1)/maxFourierRows)
	raw := xtx.RawSymmetric()
	for t := len(y) - 1; t >= 0; t -= stride {
		if !obs[t] {
			continue
		}
		fourierRow(terms, t, x)
		for i := 0; i < p; i++ {
			xi := x[i]
			row := raw.Data[i*raw.Stride:]
			for j := i; j < p; j++ {
				row[j] += xi * x[j]
			}
			xty.SetVec(i, xty.AtVec(i)+xi*y[t])
		}
	}
	// Ridge: a small multiple of the mean diagonal keeps the solve stable
	// when a harmonic is barely excited (short or gappy history).
	var tr float64
	for i := 0; i < p; i++ {
		tr += xtx.At(i, i)
	}
	for i := 0; i < p; i++ {
		xtx.SetSym(i, i, xtx.At(i, i)+1e-8*tr/float64(p)+1e-12)
	}
	m := &fourier{terms: terms, coef: make([]float64, p)}
	var chol mat.Cholesky
	beta := mat.NewVecDense(p, m.coef)
	if chol.Factorize(xtx) {
		if err := chol.SolveVecTo(beta, xty); err != nil {
			clear(m.coef)
		}
	}
	if m.coef[0] == 0 {
		var s float64
		var c int
		for t := range y {
			if obs[t] {
				s += y[t]
				c++
			}
		}
		if c > 0 {
			m.coef[0] = s / float64(c)
		}
	}
	// Residual level: choose (alpha, phi) on the last part of the residuals.
	res := make([]float64, len(y))
	for t := range y {
		res[t] = y[t] - m.fitValue(t)
	}
	m.alpha, m.phi, m.lvl = fitResidualLevel(res, obs, len(y)-min(len(y), residualSpan(terms)), h, 1, 0)
	m.t = len(y) - 1
	return m
}

// minResidualSteps is the fewest steps the residual level's two
// parameters are fitted on, when four cycles hold fewer (coarse steps).
const minResidualSteps = 4 * 1440

// residualSpan is the recent history, in steps, that the residual level of
// a seasonal regression is fitted on: four cycles of its shortest season
// (four days on a daily one), and at least minResidualSteps.
func residualSpan(terms []fourierTerm) int {
	p := 0
	for _, tm := range terms {
		if p == 0 || tm.period < p {
			p = tm.period
		}
	}
	return max(4*p, minResidualSteps)
}

// fitResidualLevel chooses the smoothing alpha and the per-step damping phi
// of a residual level L (L += alpha*(res[t]-L), forecast phi^h*L at lead h)
// by least squares of the lead-h error over res[start:], where obs marks the
// observed steps and NaN residuals are skipped. It returns them with the
// level run over the whole of res, so that a model's state ends after res. When
// no error can be scored it returns alpha0 and phi0.
func fitResidualLevel(res []float64, obs []bool, start, h int, alpha0, phi0 float64) (alpha, phi, lvl float64) {
	n := len(res)
	alpha, phi = alpha0, phi0
	bestE := math.Inf(1)
	for _, a := range []float64{0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 1} {
		for _, ph := range []float64{0, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 1} {
			d := math.Pow(ph, float64(h))
			var l, sse float64
			for t := start; t+h < n; t++ {
				if !math.IsNaN(res[t]) {
					l += a * (res[t] - l)
				}
				if obs[t+h] && !math.IsNaN(res[t+h]) {
					e := res[t+h] - d*l
					sse += e * e
				}
			}
			if sse < bestE {
				alpha, phi, bestE = a, ph, sse
			}
		}
	}
	for _, r := range res {
		if !math.IsNaN(r) {
			lvl += alpha * (r - lvl)
		}
	}
	return alpha, phi, lvl
}
