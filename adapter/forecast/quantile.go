package forecast

import (
	"math"
	"slices"
)

// quantileOf returns the empirical q-quantile of the finite values of x
// (linear interpolation between order statistics). It sorts scratch, which
// must have room for len(x) values; NaN when x has no finite value.
func quantileOf(x []float64, q float64, scratch []float64) float64 {
	s := scratch[:0]
	for _, v := range x {
		if !math.IsNaN(v) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	frac := pos - float64(lo)
	return s[lo] + frac*(s[hi]-s[lo])
}

// pinball is the quantile (pinball) loss of serving `served` when `actual`
// happened: an under-forecast costs q per unit, an over-forecast 1-q.
func pinball(actual, served, q float64) float64 {
	d := actual - served
	if d >= 0 {
		return q * d
	}
	return (q - 1) * d
}
