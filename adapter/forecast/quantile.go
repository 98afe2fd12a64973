package forecast

import (
	"math"
	"slices"
)

// quantileOf returns the empirical q-quantile of the finite values of x
// (linear interpolation between order statistics). It reorders scratch,
// which must have room for len(x) values; NaN when x has no finite value.
// It selects the two order statistics it needs instead of sorting, so its
// cost grows linearly with len(x): model choice takes thousands of such
// quantiles at every refit.
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
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	frac := pos - float64(lo)
	selectNth(s, lo)
	if frac == 0 || lo+1 >= len(s) {
		return s[lo]
	}
	// After the selection everything above lo is at least s[lo]: the
	// next order statistic is their minimum.
	return s[lo] + frac*(slices.Min(s[lo+1:])-s[lo])
}

// selectNth reorders x so that x[k] is the value a sort would put there,
// with no larger value before it and no smaller one after it
// (quickselect with a median-of-three pivot).
func selectNth(x []float64, k int) {
	lo, hi := 0, len(x)-1
	for hi-lo > 16 {
		mid := lo + (hi-lo)/2
		// Order x[lo], x[mid], x[hi]; the median of the three is the pivot.
		if x[mid] < x[lo] {
			x[mid], x[lo] = x[lo], x[mid]
		}
		if x[hi] < x[lo] {
			x[hi], x[lo] = x[lo], x[hi]
		}
		if x[hi] < x[mid] {
			x[hi], x[mid] = x[mid], x[hi]
		}
		pivot := x[mid]
		i, j := lo, hi
		for i <= j {
			for x[i] < pivot {
				i++
			}
			for x[j] > pivot {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		// Now x[lo..j] <= pivot <= x[i..hi], and x[j+1..i-1] == pivot.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
	slices.Sort(x[lo : hi+1])
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
