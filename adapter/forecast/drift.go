package forecast

import (
	"math"
	"time"
)

// pageHinkley is a one-sided Page-Hinkley test: it alarms when the
// cumulative sum of its standardised inputs, less an allowance per step,
// rises more than a threshold above its running minimum, i.e. when their
// mean shifts up and stays shifted. The forecaster feeds it the loss of
// each served value (once the horizon it covered has been observed) minus
// that loss's mean in the backtest, so it alarms when the model's recent
// errors grow beyond what the backtest saw, not on one surprise.
type pageHinkley struct {
	delta     float64 // allowance per step, in standard deviations
	threshold float64 // alarm threshold, in standard deviations
	clip      float64 // standardised errors are clipped to ±clip (one outlier cannot alarm)
	scale     float64 // standard deviation of the block means of the errors when the model was fit
	block     int     // errors averaged into one input of the test

	up, upMin float64
	sum       float64 // errors of the block in progress
	n         int
}

// Defaults of drift detection, in standard deviations of the test's inputs
// (the served-value loss, averaged over driftBlock) measured in the
// backtest: a loss shifted up by two alarms after about 100 inputs (minutes,
// or steps when a step is longer), one shifted by the clip (six) after
// about 20; a single outlier never does, and neither does a burst shorter
// than that.
const (
	driftDelta     = 1
	driftThreshold = 100
	driftClip      = 6
)

// driftBlock is the data time the test averages errors over before it
// takes one step: its thresholds then mean the same time, and the same
// false-alarm rate, whatever the sampling step. At steps of a minute or
// more every error is one input.
const driftBlock = time.Minute

// driftBlockSteps is how many errors of a series sampled every step make
// one input of the test.
func driftBlockSteps(step time.Duration) int { return max(1, int(driftBlock/step)) }

// blockSpread is the standard deviation of the means of consecutive blocks
// of `block` values of x (a trailing partial block is left out): the
// spread of the test's inputs when x are its errors.
func blockSpread(x []float64, block int) float64 {
	means := make([]float64, 0, len(x)/block)
	for i := 0; i+block <= len(x); i += block {
		var s float64
		for _, v := range x[i : i+block] {
			s += v
		}
		means = append(means, s/float64(block))
	}
	_, sd := meanStd(means)
	return sd
}

func newPageHinkley(scale float64, block int) pageHinkley {
	return pageHinkley{delta: driftDelta, threshold: driftThreshold, clip: driftClip, scale: scale, block: max(1, block)}
}

// add feeds one forecast error and reports whether the test alarms. Errors
// are averaged over blocks; the test moves once a block is complete.
func (p *pageHinkley) add(err float64) bool {
	if p.scale <= 0 || math.IsNaN(err) {
		return false
	}
	p.sum += err
	p.n++
	if p.n < p.block {
		return false
	}
	err = p.sum / float64(p.n)
	p.sum, p.n = 0, 0
	z := clamp(err/p.scale, -p.clip, p.clip)
	p.up += z - p.delta
	p.upMin = math.Min(p.upMin, p.up)
	return p.up-p.upMin > p.threshold
}

func (p *pageHinkley) reset() {
	p.up, p.upMin, p.sum, p.n = 0, 0, 0, 0
}
