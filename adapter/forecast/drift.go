package forecast

import "math"

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
	scale     float64 // standard deviation of the errors when the model was fit

	up, upMin float64
}

// Defaults of drift detection, in standard deviations of the served-value
// loss measured in the backtest: a loss shifted up by two alarms after about
// 100 steps, one shifted by the clip (six) after about 20; a single outlier
// never does, and neither does a burst shorter than that.
const (
	driftDelta     = 1
	driftThreshold = 100
	driftClip      = 6
)

func newPageHinkley(scale float64) pageHinkley {
	return pageHinkley{delta: driftDelta, threshold: driftThreshold, clip: driftClip, scale: scale}
}

// add feeds one forecast error and reports whether the test alarms.
func (p *pageHinkley) add(err float64) bool {
	if p.scale <= 0 || math.IsNaN(err) {
		return false
	}
	z := clamp(err/p.scale, -p.clip, p.clip)
	p.up += z - p.delta
	p.upMin = math.Min(p.upMin, p.up)
	return p.up-p.upMin > p.threshold
}

func (p *pageHinkley) reset() {
	p.up, p.upMin = 0, 0
}
