package forecast

import (
	"math"
	"time"
)

// Seasonality is what seasonality detection found in a series.
type Seasonality struct {
	// Daily and Weekly report a detected season of one day or one week.
	Daily, Weekly bool
	// ACFDaily and ACFWeekly are the autocorrelations at those lags
	// (NaN when the series is shorter than two periods).
	ACFDaily, ACFWeekly float64
}

// Periods returns the detected periods in steps of the given size, shortest first.
func (s Seasonality) Periods(step time.Duration) []int {
	var p []int
	if s.Daily {
		p = append(p, int(24*time.Hour/step))
	}
	if s.Weekly {
		p = append(p, int(7*24*time.Hour/step))
	}
	return p
}

// Thresholds of seasonality detection. A season is detected when the
// autocorrelation at its lag is clearly positive and clearly above the
// autocorrelation half a period away (daily) or three and four days away
// (weekly, so that a purely daily pattern does not count as weekly); where
// a strong daily shape hides a weekly one in that margin, the weekly test
// is read again on the change from a day earlier. A
// smooth trend or random walk has its autocorrelation falling with the lag
// and fails the second test. With three days or more, the daily test is
// read on the series less its centred one-day moving average: days of
// different levels (a weekend, a holiday) then do not hide a daily shape,
// and a level with no daily shape leaves noise, which fails.
const (
	seasonMinACF      = 0.3
	seasonDailyMargin = 0.2
	seasonWeekMargin  = 0.1
	seasonBucket      = 15 * time.Minute
)

// DetectSeasonality looks for daily and weekly seasons in y (oldest first,
// one value per step; obs marks the observed steps, nil meaning all). The
// series is averaged into 15-minute buckets, detrended, and its
// autocorrelation is read at the candidate lags (±1 bucket). A series
// shorter than two periods is not seasonal at that period.
func DetectSeasonality(y []float64, obs []bool, step time.Duration) Seasonality {
	return detectSeasonality(y, obs, step, seasonBucket)
}

func detectSeasonality(y []float64, obs []bool, step, bucketLen time.Duration) Seasonality {
	s := Seasonality{ACFDaily: math.NaN(), ACFWeekly: math.NaN()}
	b := max(1, int(bucketLen/step))
	nb := len(y) / b
	x := make([]float64, nb)
	off := len(y) - nb*b // drop the oldest partial bucket
	for i := range x {
		var sum float64
		c := 0
		for j := off + i*b; j < off+(i+1)*b; j++ {
			if (obs == nil || obs[j]) && !math.IsNaN(y[j]) {
				sum += y[j]
				c++
			}
		}
		if c == 0 {
			x[i] = math.NaN()
		} else {
			x[i] = sum / float64(c)
		}
	}
	detrend(x)
	bucket := time.Duration(b) * step
	day := int(24 * time.Hour / bucket)
	week := 7 * day
	if nb >= 2*day && day >= 4 {
		xd := x
		if nb >= 3*day {
			xd = lessMovingAverage(x, day)
		}
		a := peakACF(xd, day)
		s.ACFDaily = a
		s.Daily = a >= seasonMinACF && a-acf(xd, day/2) >= seasonDailyMargin
	}
	if nb >= 2*week {
		a := peakACF(x, week)
		s.ACFWeekly = a
		other := math.Max(acf(x, 3*day), acf(x, 4*day))
		s.Weekly = a >= seasonMinACF && a-other >= seasonWeekMargin
		if !s.Weekly {
			// A strong daily shape keeps the autocorrelation high at every
			// whole day, so a weekday's level (a quieter Saturday) can lie
			// inside the margin. The change from the same time a day
			// earlier has no daily shape left but keeps the weekly one.
			xw := lessLag(x, day)
			a = peakACF(xw, week)
			other = math.Max(acf(xw, 3*day), acf(xw, 4*day))
			s.Weekly = a >= seasonMinACF && a-other >= seasonWeekMargin
		}
	}
	return s
}

// lessMovingAverage returns x less its centred moving average over period
// values (the two end values weighted a half when period is even, as
// classical seasonal decomposition does), NaN where the window is not
// whole or x is NaN. Missing values are left out of the average.
func lessMovingAverage(x []float64, period int) []float64 {
	out := make([]float64, len(x))
	half := period / 2
	for i := range x {
		out[i] = math.NaN()
		if i < half || i+half >= len(x) || math.IsNaN(x[i]) {
			continue
		}
		var sum, w float64
		for j := i - half; j <= i+half; j++ {
			if math.IsNaN(x[j]) {
				continue
			}
			wt := 1.0
			if period%2 == 0 && (j == i-half || j == i+half) {
				wt = 0.5
			}
			sum += wt * x[j]
			w += wt
		}
		if w > 0 {
			out[i] = x[i] - sum/w
		}
	}
	return out
}

// lessLag returns x[i] - x[i-lag], NaN for the first lag values and where
// either value is NaN.
func lessLag(x []float64, lag int) []float64 {
	out := make([]float64, len(x))
	for i := range x {
		out[i] = math.NaN()
		if i >= lag {
			out[i] = x[i] - x[i-lag]
		}
	}
	return out
}

// detrend removes the least-squares line from the non-NaN values of x.
func detrend(x []float64) {
	var sx, sy, sxx, sxy, n float64
	for i, v := range x {
		if math.IsNaN(v) {
			continue
		}
		f := float64(i)
		sx += f
		sy += v
		sxx += f * f
		sxy += f * v
		n++
	}
	if n < 2 {
		return
	}
	b := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	a := (sy - b*sx) / n
	if math.IsNaN(b) {
		b, a = 0, sy/n
	}
	for i := range x {
		x[i] -= a + b*float64(i)
	}
}

func peakACF(x []float64, lag int) float64 {
	return math.Max(acf(x, lag), math.Max(acf(x, lag-1), acf(x, lag+1)))
}

// acf is the autocorrelation of x at lag over the pairs where both values
// are present, normalised by the variance of all present values.
func acf(x []float64, lag int) float64 {
	if lag <= 0 || lag >= len(x) {
		return math.NaN()
	}
	var m, n float64
	for _, v := range x {
		if !math.IsNaN(v) {
			m += v
			n++
		}
	}
	if n < 2 {
		return math.NaN()
	}
	m /= n
	var v0 float64
	for _, v := range x {
		if !math.IsNaN(v) {
			v0 += (v - m) * (v - m)
		}
	}
	v0 /= n
	if v0 == 0 {
		return 0
	}
	var c, k float64
	for i := lag; i < len(x); i++ {
		a, b := x[i], x[i-lag]
		if math.IsNaN(a) || math.IsNaN(b) {
			continue
		}
		c += (a - m) * (b - m)
		k++
	}
	if k == 0 {
		return math.NaN()
	}
	return c / k / v0
}
