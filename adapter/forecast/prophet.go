package forecast

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// prophet is a decomposable regression in the manner of Prophet: a
// piecewise-linear trend with evenly spaced changepoints plus Fourier
// seasonality of the detected periods, fitted on a log scale,
//
//	z(t) = a + b*u + sum_k d_k*max(0, u-c_k) + S(t),  u = t/n,
//	forecast(t+h) = exp(z(t+h) + phi^h * L_t) - shift,
//
// so that the seasonal shape is multiplicative: the daily swing scales with
// the day's level (a quiet weekend has a smaller one), and the weekly terms
// scale the whole daily shape. The slope changes d_k carry a ridge penalty
// sigma^2/tau^2 (a Gaussian prior of scale tau on each change, sigma^2 the
// residual variance without changepoints), so the trend bends only where
// the data insist. Beyond the fitted window the trend continues with its
// last slope. As in fourier, a damped, smoothed level L of the recent
// residuals corrects the regression; here on the log scale, so a busier
// day than the fit expects scales the whole coming shape.
type prophet struct {
	terms []fourierTerm
	cps   []float64 // changepoints in trend time u
	coef  []float64 // intercept, cos/sin pairs per term and harmonic, slope, slope changes
	inv   float64   // 1/n: trend time per step
	shift float64   // z = log(y + shift)
	zmax  float64   // z is capped here: an overflow guard, far above the data
	alpha float64   // smoothing of the residual level
	phi   float64   // damping of the residual level per step
	t     int       // index of the latest step (relative to the fit origin)
	lvl   float64   // smoothed residual level (log scale)
	x     []float64 // scratch row
}

// Constants of the prophet model, statements about trends rather than fits
// to particular series.
const (
	// prophetChangepoints are spread evenly over the first prophetCPRange
	// of the fitted window (as Prophet does): the last slope is estimated
	// on the rest, so that it is not one day's bump.
	prophetChangepoints = 10
	prophetCPRange      = 0.8
	// prophetTau is the prior scale of one slope change, in log units over
	// the whole window (Prophet's default changepoint prior scale).
	prophetTau = 0.05
	// prophetShiftShare is the shift of the log scale as a share of the
	// mean load: loads well above it vary multiplicatively, zeros stay finite.
	prophetShiftShare = 0.1
)

func (m *prophet) kind() Model { return ModelProphet }
func (m *prophet) stateBytes() int {
	return 120 + 8*(len(m.coef)+len(m.cps)+len(m.x)) + 16*len(m.terms)
}

// row writes the regressors at step t into x: the Fourier block (with the
// intercept), the trend time, then one hinge per changepoint.
func (m *prophet) row(t int, x []float64) {
	fw := fourierWidth(m.terms)
	fourierRow(m.terms, t, x[:fw])
	u := float64(t) * m.inv
	x[fw] = u
	for k, c := range m.cps {
		x[fw+1+k] = math.Max(0, u-c)
	}
}

// z is the regression's value at step t on the log scale.
func (m *prophet) z(t int) float64 {
	m.row(t, m.x)
	var v float64
	for i, c := range m.coef {
		v += c * m.x[i]
	}
	return v
}

// tr maps a load to the log scale.
func (m *prophet) tr(y float64) float64 { return math.Log(math.Max(y, 0) + m.shift) }

// value maps a log-scale value back to the load's scale.
func (m *prophet) value(z float64) float64 { return math.Exp(math.Min(z, m.zmax)) - m.shift }

func (m *prophet) advance(y float64) {
	m.t++
	m.lvl += m.alpha * (m.tr(y) - m.z(m.t) - m.lvl)
}

func (m *prophet) forecast(out []float64) {
	d := 1.0
	for h := 1; h <= len(out); h++ {
		d *= m.phi
		out[h-1] = m.value(m.z(m.t+h) + d*m.lvl)
	}
}

// fitProphet fits the regression on the observed steps of y (rows
// subsampled evenly beyond maxFourierRows, as fourier does) with the given
// number of changepoints, then the residual level. The state ends after y.
func fitProphet(y []float64, obs []bool, terms []fourierTerm, h, changepoints int) *prophet {
	n := len(y)
	m := &prophet{terms: terms, inv: 1 / float64(max(n, 1))}
	for k := 1; k <= changepoints; k++ {
		m.cps = append(m.cps, prophetCPRange*float64(k)/float64(changepoints))
	}
	p := fourierWidth(terms) + 1 + len(m.cps)
	m.coef = make([]float64, p)
	m.x = make([]float64, p)
	// The log scale's shift and the overflow guard.
	var mean, top float64
	cnt := 0
	for t, v := range y {
		if obs[t] {
			mean += math.Max(v, 0)
			top = math.Max(top, v)
			cnt++
		}
	}
	if cnt > 0 {
		mean /= float64(cnt)
	}
	m.shift = prophetShiftShare * mean
	if !(m.shift > 0) {
		m.shift = 1
	}
	m.zmax = m.tr(top) + 1
	xtx := mat.NewSymDense(p, nil)
	xtz := mat.NewVecDense(p, nil)
	raw := xtx.RawSymmetric()
	var ztz float64
	rows := 0
	stride := max(1, (n+maxFourierRows-1)/maxFourierRows)
	x := m.x
	for t := n - 1; t >= 0; t -= stride {
		if !obs[t] {
			continue
		}
		m.row(t, x)
		z := m.tr(y[t])
		for i := 0; i < p; i++ {
			xi := x[i]
			r := raw.Data[i*raw.Stride:]
			for j := i; j < p; j++ {
				r[j] += xi * x[j]
			}
			xtz.SetVec(i, xtz.AtVec(i)+xi*z)
		}
		ztz += z * z
		rows++
	}
	cp0 := fourierWidth(terms) + 1 // the first slope-change column
	var trace float64
	for i := 0; i < p; i++ {
		trace += xtx.At(i, i)
	}
	// As in fourier, a tiny ridge on every column keeps the solve stable
	// when a harmonic is barely excited.
	ridge := 1e-8*trace/float64(p) + 1e-12
	pen := mat.NewSymDense(p, nil)
	beta := mat.NewVecDense(p, m.coef)
	// solve writes the fit with penalty lam on the slope changes into
	// m.coef; false when the system is singular.
	solve := func(lam float64) bool {
		pen.CopySym(xtx)
		for i := 0; i < p; i++ {
			d := ridge
			if i >= cp0 {
				d += lam
			}
			pen.SetSym(i, i, pen.At(i, i)+d)
		}
		var chol mat.Cholesky
		if !chol.Factorize(pen) {
			return false
		}
		return chol.SolveVecTo(beta, xtz) == nil
	}
	ok := rows > 0
	if ok && len(m.cps) > 0 {
		// The residual variance without changepoints (their slope changes
		// held at zero by a heavy penalty), from the normal equations; then
		// the fit under the prior: lam = sigma^2/tau^2, divided by the
		// subsampling stride because the rows stand for stride times as many.
		if ok = solve(1e6 * (trace/float64(p) + 1)); ok {
			var xb mat.VecDense
			xb.MulVec(xtx, beta)
			rss := ztz - 2*mat.Dot(beta, xtz) + mat.Dot(beta, &xb)
			s2 := math.Max(rss, 0) / float64(rows)
			ok = solve(s2 / (prophetTau * prophetTau) / float64(stride))
		}
	} else if ok {
		ok = solve(0)
	}
	if !ok {
		clear(m.coef)
		var s float64
		for t := range y {
			if obs[t] {
				s += m.tr(y[t])
			}
		}
		m.coef[0] = s / float64(max(cnt, 1))
	}
	// The residual level over the last days only (an exponential level
	// forgets older residuals anyway), chosen as fourier's is.
	start := n - min(n, residualSpan(terms))
	res := make([]float64, n-start)
	for t := start; t < n; t++ {
		res[t-start] = m.tr(y[t]) - m.z(t)
	}
	m.alpha, m.phi, m.lvl = fitResidualLevel(res, obs[start:], 0, h, 1, 0)
	m.t = n - 1
	return m
}
