package forecast

import (
	"math"
	"slices"
)

// profile forecasts a noisy seasonal series from a robust seasonal profile
// of its recent cycles plus a damped level of its residuals:
//
//	forecast(t+h) = W(t+h) * P(t+h) + phi^h * L_t
//
// P(t+h) is the median, over the last `seasons` cycles, of the series'
// mean over a window of 2*half+1 steps around t+h one, two, ... cycles
// earlier. Averaging within a cycle removes minute-to-minute noise; the
// median across cycles ignores an odd cycle (an incident, a holiday). L is
// an exponentially smoothed level of the residuals y - W*P, which carries
// how today differs from the profile (a busier day, a drifting level). The
// profile is read from the shared history ring at each step, so the model
// holds only a few numbers.
//
// W is 1, except in the weekday-aware variant (a daily profile of a series
// with a weekly cycle too): the median of a daily cycle's days mixes
// weekends and weekdays, so W scales it by the ratio of the weekday's level
// to all days' (weekdayFactor). It is there rather than left to L, which
// would carry Sunday's low level into Monday morning.
type profile struct {
	r       *ring
	period  int // cycle length in steps
	seasons int // cycles the median is taken over (at most)
	half    int // half-width of the averaging window in steps
	alpha   float64
	phi     float64
	lvl     float64
	means   []float64 // scratch: one window mean per cycle (or per day or week back)
	// week, when positive, is the weekly cycle in steps: the profile is
	// then scaled by weekdayFactor, recomputed every refresh() steps
	// (wfAge counts the steps since).
	week  int
	wf    float64
	wfAge int
}

// profileSeasons is how many recent cycles the profile's median covers:
// one week of daily cycles, recent enough to follow a changing shape.
const profileSeasons = 7

func (m *profile) kind() Model     { return ModelProfile }
func (m *profile) stateBytes() int { return 120 + 8*cap(m.means) }

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

// medianInPlace returns the median of x (reordering it, by the selection
// quantileOf uses); NaN when empty.
func medianInPlace(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	k := len(x) / 2
	selectNth(x, k)
	if len(x)%2 == 1 {
		return x[k]
	}
	// Everything below k is at most x[k]: the order statistic before it is their maximum.
	return (slices.Max(x[:k]) + x[k]) / 2
}

// weekdayFactor is the ratio of the level around lead h (h >= 0) after the
// latest step of b, on its weekday, to the level of all days: the median,
// over the weeks back that the history covers, of the mean of a twelfth
// of a period (two hours of a day) centred on the same phase a week
// earlier, over the median of those means one, two, ... seven periods back
// (every day of a week). 1 when the history holds no week or not a full
// week of days, or a level is not positive (a ratio of levels means
// nothing then). A short window keeps the level local to the part of the
// day, so that a Monday's first hours are not mixed with Sunday evening's,
// while still averaging many steps of noise away.
func weekdayFactor[B backer](m *profile, b B, h int) float64 {
	n := b.len()
	mean := func(c int) (float64, bool) {
		w := max(1, m.period/12)
		lo := c - w/2
		hi := lo + w - 1
		if lo < 0 || hi >= n {
			return 0, false
		}
		var sum float64
		for k := lo; k <= hi; k++ {
			sum += b.back(k)
		}
		return sum / float64(w), true
	}
	days := m.means[:0]
	for w := 1; ; w++ {
		v, ok := mean(w*m.week - h)
		if !ok {
			break
		}
		days = append(days, v)
	}
	if len(days) == 0 {
		return 1
	}
	wd := medianInPlace(days)
	days = days[:0]
	for k := 1; k <= m.week/m.period; k++ {
		v, ok := mean(k*m.period - h)
		if !ok {
			break
		}
		days = append(days, v)
	}
	m.means = days
	if len(days) < m.week/m.period {
		return 1
	}
	all := medianInPlace(days)
	if !(wd > 0 && all > 0) {
		return 1
	}
	return wd / all
}

// refresh is how many steps a weekday factor is reused for: a 96th of the
// period (15 minutes of a day). The factor averages eight times that, so it
// moves little in between, and reading the windows at every step would
// cost more than the rest of the model.
func (m *profile) refresh() int { return max(1, m.period/96) }

// factor is the weekday factor of the ring's latest step, recomputed once
// its cached value is refresh() steps old; 1 without a weekly cycle.
func (m *profile) factor() float64 {
	if m.week <= 0 {
		return 1
	}
	if m.wfAge >= m.refresh() {
		m.wf, m.wfAge = weekdayFactor(m, m.r, 0), 0
	}
	return m.wf
}

func (m *profile) advance(y float64) {
	m.wfAge++
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
func (m *profile) baseAt0() float64 { return profileBase(m, m.r, 0) * m.factor() }

func (m *profile) forecast(out []float64) {
	d := 1.0
	last := m.r.back(0)
	g := m.factor()
	for h := 1; h <= len(out); h++ {
		d *= m.phi
		p := profileBase(m, m.r, h) * g
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
//
// A positive week (a multiple of period) makes it the weekday-aware
// variant: the profile scaled to the weekday's level (weekdayFactor).
func fitProfile(r *ring, y []float64, obs []bool, period, week, h int) *profile {
	m := &profile{r: r, period: period, seasons: profileSeasons, half: max(1, h),
		means: make([]float64, 0, profileSeasons), week: week}
	n := len(y)
	// Residuals against the profile over the last days (the level is an
	// exponential average: older residuals would be forgotten anyway);
	// NaN where the profile is not defined yet.
	tail := min(n, 4*period)
	start := n - tail
	res := make([]float64, n)
	g := 1.0
	for t := start; t < n; t++ {
		// The profile of step t from steps before it: lead 0 seen from t,
		// with t itself excluded because every window is a cycle back.
		b := sliceBacker{y: y, end: t + 1}
		if week > 0 && (t-start)%m.refresh() == 0 {
			g = weekdayFactor(m, b, 0)
		}
		res[t] = y[t] - profileBase(m, b, 0)*g
	}
	m.alpha, m.phi, m.lvl = fitResidualLevel(res, obs, start, h, 0.1, 0.9)
	m.wfAge = m.refresh() // the factor is computed afresh from the ring
	return m
}
