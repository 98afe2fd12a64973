package forecast

import (
	"fmt"
	"math"
	"time"
)

// SpikeFilter says when a forecaster reads each sample as the median of it
// and the two samples before it (Settings.FilterSpikes).
type SpikeFilter string

// Spike filter settings.
const (
	// SpikeFilterAuto filters where the series' excursions are isolated
	// samples, chosen at each refit on the fit's window (isolated).
	SpikeFilterAuto SpikeFilter = "auto"
	// SpikeFilterOn always filters.
	SpikeFilterOn SpikeFilter = "on"
	// SpikeFilterOff never filters.
	SpikeFilterOff SpikeFilter = "off"
)

// ParseSpikeFilter parses "auto", "on" or "off" ("" is auto).
func ParseSpikeFilter(s string) (SpikeFilter, error) {
	switch f := SpikeFilter(s); f {
	case "":
		return SpikeFilterAuto, nil
	case SpikeFilterAuto, SpikeFilterOn, SpikeFilterOff:
		return f, nil
	}
	return "", fmt.Errorf("unknown spike filter %q (known: auto, on, off)", s)
}

// ForQueueArrivals returns s for forecasting a work queue's arrival rate.
// Arrivals wait in the queue until a worker takes them, so one that comes
// alone (a job every half hour) is work that waking up ahead of it serves,
// not an excursion to leave to the HPA target's headroom: auto reads the
// samples themselves there. An explicit on stays on. The served rate keeps
// its own scale (NoScaleBound): it decides when workers wake up, and no
// HPA target divides it.
func (s Settings) ForQueueArrivals() Settings {
	if s.FilterSpikes == "" || s.FilterSpikes == SpikeFilterAuto {
		s.FilterSpikes = SpikeFilterOff
	}
	s.NoScaleBound = true
	return s
}

// readsMedian reports whether a fit on the window y (raw samples), whose
// excursionPersistence is persistence, reads the median of three: by the
// setting, or with auto where the window's excursions are isolated samples
// and a horizon holds less than one of them on the average.
func (f *Forecaster) readsMedian(y []float64, obs []bool, persistence float64) bool {
	switch f.s.FilterSpikes {
	case SpikeFilterOn:
		return true
	case SpikeFilterAuto:
		return isolated(persistence) && spikesPerHorizon(y, obs, f.s.Step, f.h) < 1
	}
	return false
}

// isolatedPersistence is the excursion persistence (see
// excursionPersistence) under which a series' excursions count as isolated.
// Independent noise on a steady level keeps a share of its excursion one
// step later, because the median it is measured from is noisy too:
// var(median of three) / (var(noise) + var(median of three)), 0.31 for
// Gaussian noise, 0.38 for uniform; a level that moves keeps more.
// Excursions that vanish after one sample more than that are spikes:
// one-sample outliers, which the median of three removes and the latest
// sample does not predict.
const isolatedPersistence = 0.25

// isolated reports whether excursions of the given persistence (see
// excursionPersistence) are isolated samples: below isolatedPersistence.
func isolated(persistence float64) bool {
	return persistence < isolatedPersistence
}

// excursionPersistence measures how much of a sample's excursion is still
// there one step later: per day of the last persistenceDays of y, the
// least-squares slope of y[t+1] - m against y[t] - m, where m is the median
// of the three samples before t (all five observed), and the median of
// those daily slopes, so that one day's outliers do not decide. A steady
// trend keeps more than its excursion (1.5), independent noise a share of
// it (0.3-0.4), one-sample spikes almost none. NaN when no day has enough
// excursions.
func excursionPersistence(y []float64, obs []bool, step time.Duration) float64 {
	block := persistenceBlock(step)
	var slopes []float64
	for from := max(0, len(y)-persistenceDays*block); from < len(y); from += block {
		to := min(from+block, len(y))
		var sxx, sxy float64
		pairs := 0
		excursions(y, obs, from, to, func(d, next float64) {
			sxx += d * d
			sxy += d * next
			pairs++
		})
		if pairs >= minPersistenceSteps/2 && sxx > 0 {
			slopes = append(slopes, sxy/sxx)
		}
	}
	return medianInPlace(slopes)
}

// excursions calls fn for each step t of y[from:to] whose excursion can be
// measured (t, the three steps before it and the one after it observed,
// the one after inside the range) with its excursion d above the median m
// of the three samples before it, and next, the following sample's
// excursion above the same m.
func excursions(y []float64, obs []bool, from, to int, fn func(d, next float64)) {
	for t := max(from, 3); t+1 < to; t++ {
		if !obs[t-3] || !obs[t-2] || !obs[t-1] || !obs[t] || !obs[t+1] {
			continue
		}
		m := medianOfThree(y[t-3], y[t-2], y[t-1])
		fn(y[t]-m, y[t+1]-m)
	}
}

// persistenceBlock is the block, in steps, that excursions are read in: a
// day, or minPersistenceSteps where a day holds fewer.
func persistenceBlock(step time.Duration) int {
	return max(int(24*time.Hour/step), minPersistenceSteps)
}

// spikeSize is how many times the window's median absolute excursion a
// sample's excursion must exceed to count as a spike (spikesPerHorizon):
// well beyond the series' usual step-to-step moves.
const spikeSize = 3

// spikesPerHorizon is how many upward spikes a horizon of h steps holds on
// the average, over the last persistenceDays of y: samples whose excursion
// above the median of the three samples before them exceeds spikeSize
// times the median absolute excursion, and of which less than half is
// left one step later. Reading the median of three leaves spikes to the
// HPA target's headroom, which pays where a horizon's peak is usually a
// level without one. Where a horizon holds one or more on the average
// (frequent spikes, or a step much shorter than the horizon), a spike is
// the peak that the pods must serve in most horizons, and the forecast
// must see it.
func spikesPerHorizon(y []float64, obs []bool, step time.Duration, h int) float64 {
	var exc, next []float64
	excursions(y, obs, len(y)-persistenceDays*persistenceBlock(step), len(y), func(d, n float64) {
		exc, next = append(exc, d), append(next, n)
	})
	if len(exc) == 0 {
		return 0
	}
	abs := make([]float64, len(exc))
	for i, d := range exc {
		abs[i] = math.Abs(d)
	}
	size := spikeSize * medianInPlace(abs)
	spikes := 0
	for i, d := range exc {
		if d > size && next[i] < d/2 {
			spikes++
		}
	}
	return float64(spikes) / float64(len(exc)) * float64(h)
}

// persistenceDays is how many of a window's latest days excursionPersistence
// reads: recent enough that the choice follows a series whose noise
// changes (one whose first days were spiky stops filtering three days
// after), and enough days that one day's outliers do not decide.
const persistenceDays = 3

// minPersistenceSteps is the shortest block excursionPersistence measures a
// slope on: a day, or this many steps where a day holds fewer.
const minPersistenceSteps = 96
