// Package loadgen generates deterministic synthetic load: a daily and weekly
// shape with noise and occasional bursts. A Profile is a pure function of time
// (no state, no clock, no global random source), so an accelerated-time demo
// can compute any point, in any order, and get the same value every time.
package loadgen

import (
	"math"
	"time"
)

// Profile describes a synthetic load. The zero value is a flat zero load; see
// Default for a realistic one.
type Profile struct {
	// Base is the mean load on a weekday, e.g. requests per second.
	Base float64
	// DailyAmplitude is the relative daily swing: the load moves between about
	// Base*(1-DailyAmplitude) at night and Base*(1+DailyAmplitude) at the peak. In [0,1].
	DailyAmplitude float64
	// PeakHour is the hour of day (in Location) of the daily peak, e.g. 14.5.
	PeakHour float64
	// WeekendFactor multiplies the load on Saturdays and Sundays (1: no weekly shape).
	WeekendFactor float64
	// Noise is the relative standard deviation of the noise.
	Noise float64
	// NoiseStep is how often the noise changes. Default 15s.
	NoiseStep time.Duration
	// BurstsPerDay is the mean number of bursts per day.
	BurstsPerDay float64
	// BurstAmplitude is a burst's peak, relative to the load at that time (1: doubles it).
	BurstAmplitude float64
	// BurstDuration is how long a burst lasts, at most one hour. Default 10m.
	BurstDuration time.Duration
	// Seed selects the noise and the bursts.
	Seed uint64
	// Location is the time zone of the daily shape. Default UTC.
	Location *time.Location
}

// Default returns a web-service-like profile around base: a 60% daily swing
// peaking at 14:00 UTC, weekends at 60%, 5% noise and about three 10-minute
// bursts (+80%) per day.
func Default(base float64, seed uint64) Profile {
	return Profile{
		Base:           base,
		DailyAmplitude: 0.6,
		PeakHour:       14,
		WeekendFactor:  0.6,
		Noise:          0.05,
		NoiseStep:      15 * time.Second,
		BurstsPerDay:   3,
		BurstAmplitude: 0.8,
		BurstDuration:  10 * time.Minute,
		Seed:           seed,
	}
}

const burstSlot = time.Hour

// At returns the load at t. It is never negative.
func (p Profile) At(t time.Time) float64 {
	level := p.Base * p.daily(t) * p.weekly(t)
	level *= 1 + p.burst(t)
	if p.Noise > 0 {
		step := p.NoiseStep
		if step <= 0 {
			step = 15 * time.Second
		}
		k := floorDiv(t.UnixNano(), int64(step))
		level *= 1 + p.Noise*gaussian(p.Seed, uint64(k))
	}
	return max(level, 0)
}

// Smooth returns the load at t without noise and bursts: the daily and weekly shape only.
func (p Profile) Smooth(t time.Time) float64 {
	return max(p.Base*p.daily(t)*p.weekly(t), 0)
}

// Samples returns At at start, start+step, ... before end.
func (p Profile) Samples(start, end time.Time, step time.Duration) []float64 {
	if step <= 0 || !end.After(start) {
		return nil
	}
	out := make([]float64, 0, int(end.Sub(start)/step)+1)
	for t := start; t.Before(end); t = t.Add(step) {
		out = append(out, p.At(t))
	}
	return out
}

func (p Profile) loc() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

// hourOfDay returns the fractional hour of t in the profile's location.
func (p Profile) hourOfDay(t time.Time) float64 {
	lt := t.In(p.loc())
	return float64(lt.Hour()) + float64(lt.Minute())/60 + float64(lt.Second())/3600 + float64(lt.Nanosecond())/3.6e12
}

// daily is a two-harmonic daily shape with mean 1, peaking at PeakHour.
func (p Profile) daily(t time.Time) float64 {
	x := 2 * math.Pi * (p.hourOfDay(t) - p.PeakHour) / 24
	// The second harmonic sharpens the peak and flattens the night, as in real traffic.
	shape := (0.8*math.Cos(x) + 0.2*math.Cos(2*x)) / 1.0
	return 1 + p.DailyAmplitude*shape
}

// weekly is WeekendFactor on weekends, 1 on weekdays, blended linearly over
// the two hours around each weekend boundary so the load has no step.
func (p Profile) weekly(t time.Time) float64 {
	f := p.WeekendFactor
	if f == 0 {
		f = 1
	}
	weekend := func(tt time.Time) float64 {
		switch tt.In(p.loc()).Weekday() {
		case time.Saturday, time.Sunday:
			return f
		}
		return 1
	}
	const blend = time.Hour
	a, b := weekend(t.Add(-blend)), weekend(t.Add(blend))
	if a == b {
		return weekend(t)
	}
	// Find the boundary within (t-blend, t+blend]: midnight in the location.
	lt := t.In(p.loc())
	mid := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, p.loc())
	if t.Sub(mid) > blend {
		mid = mid.AddDate(0, 0, 1)
	}
	w := (t.Sub(mid).Seconds() + blend.Seconds()) / (2 * blend.Seconds())
	w = min(max(w, 0), 1)
	return a + (b-a)*w
}

// burst returns the relative burst load at t (0 outside bursts). Each hour slot
// holds a burst with probability BurstsPerDay/24, starting at a random offset.
func (p Profile) burst(t time.Time) float64 {
	if p.BurstsPerDay <= 0 || p.BurstAmplitude == 0 {
		return 0
	}
	dur := p.BurstDuration
	if dur <= 0 {
		dur = 10 * time.Minute
	}
	dur = min(dur, burstSlot)
	prob := min(p.BurstsPerDay/24, 1)
	ns := t.UnixNano()
	slot := floorDiv(ns, int64(burstSlot))
	total := 0.0
	for k := slot - 1; k <= slot; k++ {
		h := mix(p.Seed^0x9e3779b97f4a7c15, uint64(k))
		if uniform(h) >= prob {
			continue
		}
		start := k*int64(burstSlot) + int64(uniform(mix(h, 1))*float64(burstSlot-dur))
		x := float64(ns-start) / float64(dur)
		if x < 0 || x >= 1 {
			continue
		}
		// Fast rise over the first 10%, linear decay after.
		var shape float64
		if x < 0.1 {
			shape = x / 0.1
		} else {
			shape = (1 - x) / 0.9
		}
		total += p.BurstAmplitude * shape
	}
	return total
}

// mix is SplitMix64 over a seed and a counter: a fast, well-distributed hash.
func mix(seed, k uint64) uint64 {
	z := seed + 0x9e3779b97f4a7c15*(k+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform maps a hash to [0,1).
func uniform(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// gaussian returns a standard normal deviate for (seed, k) by Box-Muller.
func gaussian(seed, k uint64) float64 {
	h := mix(seed, k)
	u1 := uniform(h)
	u2 := uniform(mix(h, 2))
	if u1 < 1e-300 {
		u1 = 1e-300
	}
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
