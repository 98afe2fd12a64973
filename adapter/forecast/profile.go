package forecast

import (
	"math"
	"slices"
)

// profile forecasts a noisy seasonal series from a robust seasonal profile
// of its recent cycles plus a damped level of its residuals:
//
//	forecast(t+h) = P(t+h) + phi^h * L_t
//
// P(t+h) is the median, over the last `seasons` cycles, of the series'
// mean over a window of 2*half+1 steps around t+h one, two, ... cycles
// earlier. Averaging within a cycle removes minute-to-minute noise; the
// median across cycles ignores an odd cycle (an incident, a holiday). L is
// an exponentially smoothed level of the residuals y - P, which carries
// how today differs from the profile (a busier day, a drifting level). The
// profile is read from the shared history ring at each step, so the model
// holds only a few numbers.
type profile struct {
	r       *ring
	period  int // cycle length in steps
	seasons int // cycles the median is taken over (at most)
	half    int // half-width of the averaging window in steps
	alpha   float64
	phi     float64
	lvl     float64
	means   []float64 // scratch: one window mean per cycle
}

// profileSeasons is how many recent cycles the profile's median covers:
// one week of daily cycles, recent enough to follow a changing shape.
const profileSeasons = 7

func (m *profile) kind() Model     { return ModelProfile }
func (m *profile) stateBytes() int { return 96 + 8*len(m.means) }

// backer reads a series backwards: back(k) is the value k steps before the
// latest one, len the number of steps available.
type backer interface {
	back(k int) float64
	len() int
}

// sliceBacker reads y[:end] backwards.
type sliceBacker struct {
	y   []float64
	end int
}

func (s sliceBacker) back(k int) float64 { return s.y[s.end-1-k] }
func (s sliceBacker) len() int           { return s.end }

// profileBase is the profile's value at lead h (h >= 0) after the latest
// step of b; NaN when not even one cycle of history covers it. (Generic so
// that reading a slice does not box it at every step.)
func profileBase[B backer](m *profile, b B, h int) float64 {
	n := b.len()
	means := m.means[:0]
	for s := 1; s <= m.seasons; s++ {
		c := s*m.period - h // steps back of the same phase s cycles earlier
		lo, hi := max(c-m.half, 0), c+m.half
		if hi >= n {
			break
		}
		var sum float64
		for k := lo; k <= hi; k++ {
			sum += b.back(k)
		}
		means = append(means, sum/float64(hi-lo+1))
	}
	m.means = means
	return medianInPlace(means)
}

// medianInPlace returns the median of x (sorting it); NaN when empty.
func medianInPlace(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	slices.Sort(x)
	k := len(x) / 2
	if len(x)%2 == 1 {
		return x[k]
	}
	return (x[k-1] + x[k]) / 2
}

func (m *profile) advance(y float64) {
	// The ring holds y as its latest step: the profile of that step is the
	// lead-1 base from the step before, i.e. lead 0 counted from y's cycle
	// neighbours one period back (which are all older than y).
	p := m.baseAt0()
	if math.IsNaN(p) {
		return
	}
	m.lvl += m.alpha * (y - p - m.lvl)
}

// baseAt0 is the profile of the latest step of the ring, from older steps only.
func (m *profile) baseAt0() float64 { return profileBase(m, m.r, 0) }

func (m *profile) forecast(out []float64) {
	d := 1.0
	last := m.r.back(0)
	for h := 1; h <= len(out); h++ {
		d *= m.phi
		p := profileBase(m, m.r, h)
		if math.IsNaN(p) {
			out[h-1] = last
			continue
		}
		out[h-1] = p + d*m.lvl
	}
}

// fitProfile returns a profile model of the given period on r, whose
// contents are y (oldest first, obs marking observed steps). The residual
// level's smoothing and damping are chosen by least squares of the lead-h
// error over the last four cycles of y; the state ends after y.
func fitProfile(r *ring, y []float64, obs []bool, period, h int) *profile {
	m := &profile{r: r, period: period, seasons: profileSeasons, half: max(1, h),
		means: make([]float64, 0, profileSeasons)}
	n := len(y)
	// Residuals against the profile over the last days (the level is an
	// exponential average: older residuals would be forgotten anyway);
	// NaN where the profile is not defined yet.
	tail := min(n, 4*period)
	start := n - tail
	res := make([]float64, n)
	for t := start; t < n; t++ {
		// The profile of step t from steps before it: lead 0 seen from t,
		// with t itself excluded because every window is a cycle back.
		res[t] = y[t] - profileBase(m, sliceBacker{y: y, end: t + 1}, 0)
	}
	m.alpha, m.phi, m.lvl = fitResidualLevel(res, obs, start, h, 0.1, 0.9)
	return m
}
