package forecast

import (
	"math"

	"gonum.org/v1/gonum/optimize"
)

// hwParams are the smoothing parameters of additive damped Holt-Winters in
// error-correction form.
type hwParams struct {
	Alpha float64 // level, (0, 1)
	Beta  float64 // trend, as a share of Alpha, (0, 1)
	Gamma float64 // season, (0, 1-Alpha)
	Phi   float64 // damping, [0.8, 0.98]
}

// holtWinters is additive Holt-Winters with a damped trend. With period 0 it
// is damped Holt (no season).
type holtWinters struct {
	p      hwParams
	period int
	level  float64
	trend  float64
	season []float64
	pos    int // season index of the next step
}

func (m *holtWinters) kind() Model     { return ModelHoltWinters }
func (m *holtWinters) stateBytes() int { return 96 + 8*len(m.season) }

func (m *holtWinters) next() float64 {
	f := m.level + m.p.Phi*m.trend
	if m.period > 0 {
		f += m.season[m.pos]
	}
	return f
}

func (m *holtWinters) advance(y float64) {
	e := y - m.next()
	m.update(y, e)
}

func (m *holtWinters) update(y, e float64) {
	m.level = m.level + m.p.Phi*m.trend + m.p.Alpha*e
	m.trend = m.p.Phi*m.trend + m.p.Alpha*m.p.Beta*e
	if m.period > 0 {
		m.season[m.pos] += m.p.Gamma * e
		m.pos++
		if m.pos == m.period {
			m.pos = 0
		}
	}
}

func (m *holtWinters) forecast(out []float64) {
	damp, phik := 0.0, 1.0
	for h := 1; h <= len(out); h++ {
		phik *= m.p.Phi
		damp += phik
		f := m.level + damp*m.trend
		if m.period > 0 {
			f += m.season[(m.pos+h-1)%m.period]
		}
		out[h-1] = f
	}
}

// initHW sets the initial state from the start of y: level from the first
// season (or value), seasonal indices averaged over the full seasons present
// (at most 4), trend zero. It returns the index the recursion starts at.
func (m *holtWinters) init(y []float64) int {
	m.trend = 0
	m.pos = 0
	if m.period == 0 {
		m.level = y[0]
		return 1
	}
	s := m.period
	k := min(4, len(y)/s)
	if len(m.season) != s {
		m.season = make([]float64, s)
	}
	clear(m.season)
	for j := 0; j < k; j++ {
		var mean float64
		for i := 0; i < s; i++ {
			mean += y[j*s+i]
		}
		mean /= float64(s)
		for i := 0; i < s; i++ {
			m.season[i] += (y[j*s+i] - mean) / float64(k)
		}
		if j == 0 {
			m.level = mean
		}
	}
	return s
}

// sse runs the model over y from its initial state (init0, from init) and
// returns the sum of squared errors at the given lead at observed steps. The state
// ends after y.
func (m *holtWinters) sse(y []float64, obs []bool, init0 *holtWinters, lead int) float64 {
	m.level, m.trend, m.pos = init0.level, init0.trend, init0.pos
	if m.period > 0 {
		if len(m.season) != m.period {
			m.season = make([]float64, m.period)
		}
		copy(m.season, init0.season)
	}
	start := 1
	if m.period > 0 {
		start = m.period
	}
	var damp, phik float64 = 0, 1
	for k := 1; k <= lead; k++ {
		phik *= m.p.Phi
		damp += phik
	}
	var sum float64
	for t := start; t < len(y); t++ {
		e := y[t] - m.next()
		if lead == 1 {
			if obs[t] {
				sum += e * e
			}
		} else if u := t + lead - 1; u < len(y) && obs[u] {
			f := m.level + damp*m.trend
			if m.period > 0 {
				f += m.season[(m.pos+lead-1)%m.period]
			}
			d := y[u] - f
			sum += d * d
		}
		m.update(y[t], e)
	}
	return sum
}

func logistic(u float64) float64 { return 1 / (1 + math.Exp(-u)) }

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

func hwFromU(u []float64) hwParams {
	a := 0.001 + 0.998*logistic(u[0])
	return hwParams{
		Alpha: a,
		Beta:  0.001 + 0.998*logistic(u[1]),
		Gamma: (1 - a) * 0.998 * logistic(u[2]),
		Phi:   0.8 + 0.18*logistic(u[3]),
	}
}

// fitHoltWinters fits the smoothing parameters to y by minimising the sum of
// squared errors at the given lead (1, the classical one-step fit, is what
// the forecaster uses; a longer lead fits the errors at that horizon) (Nelder-Mead on a transform that keeps every
// parameter inside its admissible range). The returned model's state is at
// the end of y. y must hold at least two seasons (or 10 steps without one).
func fitHoltWinters(y []float64, obs []bool, period, lead int) *holtWinters {
	m := &holtWinters{period: period}
	init0 := &holtWinters{period: period}
	init0.init(y)
	f := func(u []float64) float64 {
		m.p = hwFromU(u)
		if period == 0 {
			m.p.Gamma = 0
		}
		v := m.sse(y, obs, init0, lead)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return math.MaxFloat64
		}
		return v
	}
	x0 := []float64{logit(0.3), logit(0.1), logit(0.1 / 0.7), 0}
	res, err := optimize.Minimize(optimize.Problem{Func: f}, x0,
		&optimize.Settings{FuncEvaluations: 200, Converger: &optimize.FunctionConverge{Relative: 1e-6, Iterations: 30}},
		&optimize.NelderMead{})
	best := x0
	if err == nil || (res != nil && res.X != nil) {
		best = res.X
	}
	m.p = hwFromU(best)
	if period == 0 {
		m.p.Gamma = 0
	}
	m.sse(y, obs, init0, lead)
	return m
}
