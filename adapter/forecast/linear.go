package forecast

import "math"

// linearTrend is what Prometheus' predict_linear does: an ordinary least
// squares line through the last `window` steps, extrapolated.
type linearTrend struct {
	r      *ring
	window int
}

func (m *linearTrend) kind() Model     { return ModelLinear }
func (m *linearTrend) advance(float64) {}
func (m *linearTrend) stateBytes() int { return 24 }

func (m *linearTrend) forecast(out []float64) {
	a, b := olsBack(m.r, min(m.window, m.r.len()))
	for h := 1; h <= len(out); h++ {
		out[h-1] = a + b*float64(h)
	}
}

// olsBack fits y = a + b*x to the last w values of b, with x = 0 at the
// latest step and x = -k for k steps back. It returns the intercept at x = 0
// and the slope. (Generic, like profileBase, so that reading a slice does not
// box it at every origin.)
func olsBack[B backer](b B, w int) (intercept, slope float64) {
	if w <= 1 {
		return b.back(0), 0
	}
	var sx, sy, sxx, sxy float64
	for k := 0; k < w; k++ {
		x := -float64(k)
		y := b.back(k)
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	n := float64(w)
	den := n*sxx - sx*sx
	if den == 0 {
		return sy / n, 0
	}
	slope = (n*sxy - sx*sy) / den
	intercept = (sy - slope*sx) / n
	return intercept, slope
}

// fitLinear chooses the regression window among multiples of the horizon by
// the mean squared error at lead h over the last `tail` origins of y, and
// returns the model on r.
func fitLinear(r *ring, y []float64, obs []bool, h, tail int) *linearTrend {
	best, bestErr := max(2, h), math.Inf(1)
	for _, w := range []int{h, 2 * h, 4 * h, 8 * h, 16 * h} {
		if w < 2 || w+h > len(y) {
			continue
		}
		var sse float64
		var cnt int
		for t := max(w-1, len(y)-h-tail); t+h < len(y); t++ {
			if !obs[t+h] {
				continue
			}
			a, b := olsBack(sliceBacker{y: y, end: t + 1}, w)
			e := y[t+h] - (a + b*float64(h))
			sse += e * e
			cnt++
		}
		if cnt > 0 && sse/float64(cnt) < bestErr {
			best, bestErr = w, sse/float64(cnt)
		}
	}
	return &linearTrend{r: r, window: best}
}
