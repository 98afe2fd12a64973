package forecast

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Constants of model choice. They are statements about forecasting, not
// fits to particular traces.
const (
	// evalSpan is the most recent history over which candidates are
	// backtested (one day covers every hour of a daily cycle).
	evalSpan = 24 * time.Hour
	// minEvalSpan is the least backtest history a choice needs (after a drift).
	minEvalSpan = 6 * time.Hour
	// skillMargin: while model choice's backtest is shorter than evalSpan
	// (a series' first days, or just after a drift), a model must beat the
	// reactive value's loss by this share to be served, as a loss over few
	// origins is noisy; over a whole span the candidate of least loss is.
	skillMargin = 0.05
	// foldSpan is the block length of the two-fold cross-fitting of the
	// quantile offsets: offsets learnt on alternate blocks score the others.
	foldSpan = time.Hour
	// levelSpan is the level-adjustment window of seasonal naive.
	levelSpan = time.Hour
	// arimaSpan and arimaMaxSteps bound the recent history ARIMA is fitted
	// on (a short-memory model needs no more; it bounds the cost at fine steps).
	arimaSpan     = 24 * time.Hour
	arimaMaxSteps = 2048
	// hwNoSeasonSpan is the most recent history non-seasonal Holt is fitted on.
	hwNoSeasonSpan = 2 * 24 * time.Hour
	// maxServedRatio bounds how far above the peaks it forecasts the
	// served value may sit on average (servedRatio), where every candidate
	// of model choice sits further above them. That happens on idle load
	// with short, random bursts: the upper quantile of the coming peak is
	// the bursts' level all through the hours they may come in, and an HPA
	// would need a target above 150% of a pod's capacity to run such a
	// value only as safely as the reactive value. There the upper forecast
	// is scaled down to this ratio, its shape kept. Where one candidate
	// stays within it, the excess is the chosen model's, and model choice
	// already weighs it.
	maxServedRatio = 1.5
	// dailyHarmonics and weeklyHarmonics are the Fourier terms per period.
	dailyHarmonics  = 12
	weeklyHarmonics = 6
)

// CandidateScore is the backtest result of one candidate at the last refit.
type CandidateScore struct {
	Model Model
	// Loss is the mean pinball loss (log scale) of the served value (the
	// horizon's point forecast read as Stat, plus the cross-fitted upper
	// quantile offset, floored at the observed value) against the maximum
	// actual over the horizon.
	Loss float64
	// Stat is what the served value reads from the point forecast over
	// the horizon (its peak or its mean): whichever scored best.
	Stat HorizonStat
	// Scale is how its quantile offsets scale with the forecast (a power
	// of it from 0, additive, to 1, relative): whichever scored best.
	Scale OffsetScale
	// Hold is the hold its served value was scored (and its offsets
	// learnt) with: Settings.Hold, or the best of HoldChoices when that is
	// zero.
	Hold time.Duration
	// Floor is the share of the latest value's excess over the upper
	// forecast that the served value takes: 1, the whole reactive floor,
	// or the series' excursion persistence where that scored better
	// (floorShares).
	Floor float64
}

// HoldChoices are the holds model choice tries for every candidate when
// Settings.Hold is zero, shortest first: none (one step), a minute, and
// the HPA's default scale-down stabilization window (5 minutes) with and
// without a typical pod start-up (2 minutes). How much of the HPA's hold a
// series' noise makes useful differs between series (a bursty series
// gains from the whole window, a smooth noisy one from little of it), so
// it is chosen per series and model, like the offset scale.
var HoldChoices = []time.Duration{0, time.Minute, 3 * time.Minute, 5 * time.Minute}

// holdSteps is the holds to try, in steps (stepsCovering: a hold that is
// not a whole number of steps holds the sample whose step it ends in too),
// shortest first and without repeats: hold itself when positive, else
// HoldChoices.
func holdSteps(hold, step time.Duration) []int {
	if hold > 0 {
		return []int{stepsCovering(hold, step)}
	}
	var out []int
	for _, d := range HoldChoices {
		k := max(1, stepsCovering(d, step))
		if len(out) == 0 || k > out[len(out)-1] {
			out = append(out, k)
		}
	}
	return out
}

// choice is the outcome of a refit.
type choice struct {
	pred       predictor // the model to serve; reactive when nothing beats it
	hist       *ring     // history the model is bound to (same content as the input)
	offsets    []float64 // upper-quantile offset per lead
	scale      float64   // spread of the served-value loss in the backtest (drift detection)
	season     Seasonality
	scores     []CandidateScore
	noSkill    bool        // auto found no model better than reactive
	offScale   OffsetScale // how the offsets scale with the forecast
	stat       HorizonStat // what the served value reads from the point forecast over the horizon
	peakOffset float64     // upper-quantile offset of the peak over the horizon
	shift      float64     // log shift of the loss
	lossMean   float64     // mean served-value loss of the winner in the backtest
	floor      float64     // the winner's floor share (CandidateScore.Floor)
	calib      float64     // factor on the upper forecast (1, or below where maxServedRatio bounds it)
}

type candidate struct {
	pred predictor
	fcs  []float64   // fcs[o*H+h-1] = forecast_o(h)
	errs []float64   // errs[o*H+h-1] = y[o+h] - forecast_o(h), NaN if not observed
	base []float64   // base[o] = last value at origin o (the reactive floor)
	pk   []float64   // pk[o] = max point forecast over the horizon from origin o
	pm   []float64   // pm[o] = mean point forecast over the horizon from origin o
	stat HorizonStat // which of pk and pm the served value reads (hold sets it)
	// hpk and hbase are the read forecast (pk or pm) and base held over
	// (part of) the HPA's scale-down stabilization: their maximum over the
	// origins (o-hold, o]. What the HPA provisions at o follows the highest
	// value served in its window.
	hpk, hbase []float64
	dq         []int // scratch of hold
}

// point is the forecast the served value reads at origin o (before the
// offset and the hold): the horizon's peak or mean, as cd.stat says.
func (cd *candidate) point(o int) float64 { return cd.points()[o] }

// points is pk or pm, as cd.stat says.
func (cd *candidate) points() []float64 {
	if cd.stat == HorizonMean {
		return cd.pm
	}
	return cd.pk
}

// served is the value cd serves at origin o with offset off in scale mode,
// its upper forecast times calib, and floor share floor: what the HPA reads
// at o, before its hold.
func (cd *candidate) served(o int, off float64, mode OffsetScale, calib, floor float64) float64 {
	return floored(calib*upperOf(cd.point(o), off, mode), cd.base[o], floor)
}

// hold reads the horizon's point forecast as stat and fills hpk and hbase
// with the maxima of that reading and of base over the last hold origins
// (the origin itself when hold <= 1). It reuses their storage when called
// again with another hold or stat.
func (cd *candidate) hold(hold int, stat HorizonStat) {
	if cd.hpk == nil {
		cd.hpk, cd.hbase, cd.dq = make([]float64, len(cd.pk)), make([]float64, len(cd.base)), make([]int, max(len(cd.pk), len(cd.base)))
	}
	cd.stat = stat
	rollingMaxInto(cd.hpk, cd.points(), hold, cd.dq)
	rollingMaxInto(cd.hbase, cd.base, hold, cd.dq)
}

// rollingMaxInto writes out[i] = max(x[i-w+1..i]) (from x[0] near the
// start), with dq (len(x) long) as scratch.
func rollingMaxInto(out, x []float64, w int, dq []int) {
	w = max(w, 1)
	// A monotone queue of indices with decreasing values, dq[head:tail].
	head, tail := 0, 0
	for i, v := range x {
		for tail > head && x[dq[tail-1]] <= v {
			tail--
		}
		dq[tail] = i
		tail++
		if dq[head] <= i-w {
			head++
		}
		out[i] = x[dq[head]]
	}
}

// explicitSeasonTraining is the training, in steps, that model m needs for
// its daily season when it is asked for by name (seasonal naive and profile:
// a day and the level window); 0 for the others.
func explicitSeasonTraining(m Model, step time.Duration) int {
	if m == ModelSeasonalNaive || m == ModelProfile {
		return int((24*time.Hour + levelSpan) / step)
	}
	return 0
}

// refit detects seasonality, fits the candidates on all but the last
// evaluation span of y, runs them through that span scoring the served
// value, and returns the winner bound to a history ring of the given
// capacity. evalFrom, if >= 0, is the first origin allowed in the
// evaluation (after a drift). With median, y holds the raw samples and
// everything reads their running median of three (the ring's median).
// persistence is y's excursionPersistence: the floor shares tried are
// floorShares(persistence, median).
func refit(y []float64, obs []bool, s Settings, capacity, evalFrom int, median bool, persistence float64) choice {
	raw := y // what the ring stores
	if median {
		y = medianOfThreeCopy(raw)
	}
	step := s.Step
	h := s.HorizonSteps()
	n := len(y)
	e := min(int(evalSpan/step), n/3)
	if evalFrom >= 0 && n-evalFrom < e {
		e = max(n-evalFrom, min(int(minEvalSpan/step), n/3))
	}
	// A seasonal model asked for by name needs a day and its level window
	// of training: with less, shorten the evaluation (to no less than
	// minEvalSpan) rather than serve the reactive value until the window
	// holds half a day more.
	if need := explicitSeasonTraining(s.Model, step); n-e < need && n-need >= int(minEvalSpan/step) {
		e = n - need
	}
	train := n - e
	c := choice{season: DetectSeasonality(y, obs, step)}
	r := ringFrom(raw[:train], obs[:train], capacity, median)
	ytr, otr := y[:train], obs[:train]

	var preds []predictor
	want := func(m Model) bool { return s.Model == ModelAuto || s.Model == m }
	preds = append(preds, &reactive{r: r})
	day := int(24 * time.Hour / step)
	week := 7 * day
	if want(ModelLinear) {
		preds = append(preds, fitLinear(r, ytr, otr, h, min(train, day)))
	}
	if want(ModelARIMA) && train >= 4*h+10 {
		w := min(train, int(arimaSpan/step), arimaMaxSteps)
		preds = append(preds, fitARIMA(ytr[train-w:], otr[train-w:]))
	}
	if want(ModelHoltWinters) && train >= 10 {
		period := 0
		if c.season.Daily && train >= 2*day {
			period = day
		}
		w := min(train, int(hwNoSeasonSpan/step))
		if period > 0 {
			w = min(train, max(3*period, w))
			w -= w % period // start on a season boundary of the window
		}
		preds = append(preds, fitHoltWinters(ytr[train-w:], otr[train-w:], period, 1))
	}
	level := int(levelSpan / step)
	if want(ModelSeasonalNaive) {
		switch {
		case c.season.Weekly && train >= week+level:
			preds = append(preds, newSeasonalNaive(r, week, level))
		case c.season.Daily && train >= day+level:
			preds = append(preds, newSeasonalNaive(r, day, level))
		case s.Model == ModelSeasonalNaive && train >= day+level:
			// Asked for explicitly without a detected season: a day is the usual one.
			preds = append(preds, newSeasonalNaive(r, day, level))
		}
	}
	// seasonTerms are the Fourier terms of the detected seasons that the
	// training window covers; a day's when model m is asked for explicitly.
	seasonTerms := func(m Model) []fourierTerm {
		var terms []fourierTerm
		if (c.season.Daily || c.season.Weekly || s.Model == m) && train >= day {
			terms = append(terms, fourierTerm{period: day, harmonics: dailyHarmonics})
		}
		if c.season.Weekly && train >= week {
			terms = append(terms, fourierTerm{period: week, harmonics: weeklyHarmonics})
		}
		return terms
	}
	if want(ModelFourier) {
		if terms := seasonTerms(ModelFourier); len(terms) > 0 {
			preds = append(preds, fitFourier(ytr, otr, terms, h))
		}
	}

	if want(ModelProphet) {
		if terms := seasonTerms(ModelProphet); len(terms) > 0 {
			preds = append(preds, fitProphet(ytr, otr, terms, h, prophetChangepoints))
		}
	}

	if want(ModelProfile) {
		period := 0
		switch {
		case c.season.Daily && train >= day+level:
			period = day
		case c.season.Weekly && train >= week+level:
			period = week
		case s.Model == ModelProfile && train >= day+level:
			period = day
		}
		// With a weekly cycle too, the daily profile is weekday-aware
		// once a week and a day of history show a weekday's level.
		wk := 0
		if period == day && c.season.Weekly && train >= week+day {
			wk = week
		}
		if period > 0 {
			preds = append(preds, fitProfile(r, ytr, otr, period, wk, h))
		}
	}

	// Run every candidate through the evaluation span.
	cands := make([]candidate, len(preds))
	for i, p := range preds {
		cands[i] = candidate{pred: p, fcs: make([]float64, e*h), errs: make([]float64, e*h), base: make([]float64, e), pk: make([]float64, e), pm: make([]float64, e)}
	}
	fc := make([]float64, h)
	peaks := make([]float64, e) // peaks[o] = max observed actual over (o, o+H], NaN if none: what every candidate is scored against
	for o := 0; o < e; o++ {
		t := train - 1 + o // origin index in y
		peaks[o] = math.NaN()
		for k := 1; k <= h && t+k < n; k++ {
			if obs[t+k] {
				peaks[o] = math.Max(nanTo(peaks[o], math.Inf(-1)), y[t+k])
			}
		}
		for i := range cands {
			cd := &cands[i]
			cd.pred.forecast(fc)
			cd.base[o] = y[t]
			for k := 1; k <= h; k++ {
				v := math.NaN()
				if t+k < n && obs[t+k] {
					v = y[t+k] - fc[k-1]
				}
				cd.errs[o*h+k-1] = v
				cd.fcs[o*h+k-1] = fc[k-1]
			}
			cd.pk[o], cd.pm[o] = HorizonPeak.of(fc), HorizonMean.of(fc)
		}
		if t+1 < n {
			r.push(raw[t+1], obs[t+1])
			for i := range cands {
				cands[i].pred.advance(y[t+1])
			}
		}
	}
	c.hist = r

	// Score with two-fold cross-fitted offsets in every offset scale.
	fold := max(1, int(foldSpan/step))
	sc := scorer{e: e, h: h, fold: fold, q: s.Quantile, shift: logShift(y, obs), peak: peaks, scratch: make([]float64, 0, e), col: make([]float64, 0, e)}
	sc.logPeaks()
	holds := holdSteps(s.Hold, step)
	floors := floorShares(persistence, median)
	best, react := -1, -1
	for i := range cands {
		cd := &cands[i]
		tried, stats, shares := holds, horizonStats, floors
		if cd.pred.kind() == ModelReactive {
			// The yardstick of skill: the reactive value, held only as
			// long as the shortest hold tried (its forecast is flat: its
			// peak is its mean), floored at the latest value itself.
			tried, stats, shares = holds[:1], horizonStats[:1], floors[:1]
		}
		loss, stat, mode, held, floor := math.Inf(1), stats[0], offsetScales[0], tried[0], shares[0]
		ls := make([]float64, len(shares))
		for _, st := range stats {
			for _, hd := range tried {
				cd.hold(hd, st)
				for _, m := range offsetScales {
					sc.losses(cd, m, shares, ls)
					for k, l := range ls {
						if l < loss { // ties: the peak, the shorter hold, the earlier scale, the whole floor
							loss, stat, mode, held, floor = l, st, m, hd, shares[k]
						}
					}
				}
			}
		}
		cd.hold(held, stat)
		c.scores = append(c.scores, CandidateScore{Model: cd.pred.kind(), Loss: loss, Stat: stat, Scale: mode, Hold: time.Duration(held) * step, Floor: floor})
		if cd.pred.kind() == ModelReactive {
			react = i
			continue
		}
		if best < 0 || loss < c.scores[best].Loss {
			best = i
		}
	}
	win := react
	margin := 0.0
	if e < int(evalSpan/step) {
		margin = skillMargin
	}
	if best >= 0 {
		switch {
		case s.Model != ModelAuto:
			win = best
		case c.scores[best].Loss < (1-margin)*c.scores[react].Loss:
			win = best
		default:
			c.noSkill = true
		}
	} else if s.Model != ModelAuto {
		c.noSkill = true
	}
	winScale := c.scores[win].Scale
	c.floor = c.scores[win].Floor
	cd := &cands[win]
	c.pred = cd.pred
	c.offScale = winScale
	c.stat = cd.stat
	c.offsets = make([]float64, h)
	sc.offsets(cd, winScale, -1, c.offsets)
	c.peakOffset = sc.envOffset(cd, winScale, -1)
	c.calib = 1
	if win != react && !s.NoScaleBound {
		c.calib = scaleBound(&sc, cands, c.scores, win)
	}
	// Drift watches the model's served-value loss against its level in the
	// backtest: the mean and spread of the per-origin loss are recorded.
	losses := make([]float64, 0, e)
	for o := 0; o < e; o++ {
		if math.IsNaN(sc.peak[o]) {
			continue
		}
		losses = append(losses, sc.pinball(o, cd.served(o, c.peakOffset, winScale, c.calib, c.floor)))
	}
	c.shift = sc.shift
	c.lossMean, _ = meanStd(losses)
	c.scale = blockSpread(losses, driftBlockSteps(step))
	if !(c.scale > 0) {
		c.scale = 1e-3
	}
	return c
}

// servedRatio is the mean over the backtest of the value candidate cd
// serves as score says (the horizon's reading, margin, floor share), its
// margin learnt on every origin, over the mean actual peak of the horizon
// at the same origins; NaN when those peaks sum to no load.
func (sc *scorer) servedRatio(cd *candidate, score CandidateScore) float64 {
	off := sc.envOffset(cd, score.Scale, -1)
	var served, peaks float64
	for o := 0; o < sc.e; o++ {
		if math.IsNaN(sc.peak[o]) {
			continue
		}
		served += cd.served(o, off, score.Scale, 1, score.Floor)
		peaks += sc.peak[o]
	}
	if !(peaks > 0) {
		return math.NaN()
	}
	return served / peaks
}

// scaleBound is the factor on the winner's upper forecast that bounds its
// served value's scale (maxServedRatio): below 1 only where every model
// candidate's servedRatio exceeds maxServedRatio, and then the one that
// brings the winner's ratio to it.
func scaleBound(sc *scorer, cands []candidate, scores []CandidateScore, win int) float64 {
	bound := 1.0
	for i := range cands {
		if cands[i].pred.kind() == ModelReactive {
			continue
		}
		r := sc.servedRatio(&cands[i], scores[i])
		if !(r > maxServedRatio) { // NaN included: no load to compare with
			return 1
		}
		if i == win {
			bound = maxServedRatio / r
		}
	}
	return bound
}

func nanTo(v, alt float64) float64 {
	if math.IsNaN(v) {
		return alt
	}
	return v
}

// describeScores renders the scores for Forecast.Reason: how the served
// model's value is made (the horizon's reading, the margin's scale and
// the hold model choice picked for it), so that an operator can tell from
// the log why a series serves what it serves, then every candidate's loss.
func describeScores(sc []CandidateScore, served Model) string {
	var b strings.Builder
	for _, s := range sc {
		if s.Model == served {
			fmt.Fprintf(&b, "%s reads the horizon's %s with a %s margin, a hold of %s and %s; ", s.Model, s.Stat, s.Scale, s.Hold, describeFloor(s.Floor))
		}
	}
	b.WriteString("losses ")
	for i, s := range sc {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%.4g", s.Model, s.Loss)
	}
	return b.String()
}

// describeFloor says how much of the latest value's excess over the
// forecast the served value takes.
func describeFloor(share float64) string {
	if share >= 1 {
		return "the whole reactive floor"
	}
	return fmt.Sprintf("%.2f of the latest value's excess as its floor", share)
}

// floorShares are the floor shares model choice tries (CandidateScore.Floor):
// the whole floor, and where the series' excursions fade (persistence below
// 1; see excursionPersistence) the share of the latest value's excursion
// that is still there a step later, the part of it that predicts the next
// steps. A fit that reads the median of three (median) has its floor on
// that median, which has left out the excursions that fade already, and
// keeps the whole of it.
func floorShares(persistence float64, median bool) []float64 {
	if median || !(persistence < 1) {
		return []float64{1}
	}
	return []float64{1, max(0, persistence)}
}

// floored is the served value from the upper forecast u and the latest
// value v: u lifted by share of v's excess over it (share 1: max(u, v),
// the reactive floor).
func floored(u, v, share float64) float64 {
	if share >= 1 || !(v > u) {
		return math.Max(u, v)
	}
	return u + share*(v-u)
}

// scorer computes cross-fitted served-value losses of candidates.
type scorer struct {
	e, h, fold   int
	q            float64
	shift        float64   // added before taking logs: keeps zeros finite
	peak         []float64 // peak[o]: the highest observed actual over the horizon from origin o, NaN if none
	logPeak      []float64 // logPeak[o]: peak[o] on the loss's log scale
	scratch, col []float64
}

// logPeaks fills logPeak from peak, once for every candidate scored.
func (sc *scorer) logPeaks() {
	sc.logPeak = make([]float64, len(sc.peak))
	for o, v := range sc.peak {
		sc.logPeak[o] = math.Log(math.Max(v, 0) + sc.shift)
	}
}

// offsets writes the q-quantile of the lead errors (relative to the
// forecast as mode says) over the origins whose fold parity is not `skip`
// (all origins when skip < 0).
func (sc *scorer) offsets(cd *candidate, mode OffsetScale, skip int, dst []float64) {
	for k := 0; k < sc.h; k++ {
		sc.col = sc.col[:0]
		for o := 0; o < sc.e; o++ {
			if skip >= 0 && (o/sc.fold)%2 == skip {
				continue
			}
			v := cd.errs[o*sc.h+k]
			u := mode.unit(cd.fcs[o*sc.h+k])
			if u < 1e-12 {
				continue
			}
			v /= u
			sc.col = append(sc.col, v)
		}
		dst[k] = nanTo(quantileOf(sc.col, sc.q, sc.scratch), 0)
	}
}

// envOffset is the q-quantile of the miss of the forecast's peak over the
// horizon against the actual peak (in units of mode at the forecast peak),
// over the origins whose fold parity is not skip (all when skip < 0).
func (sc *scorer) envOffset(cd *candidate, mode OffsetScale, skip int) float64 {
	sc.col = sc.col[:0]
	for o := 0; o < sc.e; o++ {
		if (skip >= 0 && (o/sc.fold)%2 == skip) || math.IsNaN(sc.peak[o]) {
			continue
		}
		p := cd.hpk[o]
		u := mode.unit(p)
		if u < 1e-12 {
			continue
		}
		v := (sc.peak[o] - p) / u
		sc.col = append(sc.col, v)
	}
	return nanTo(quantileOf(sc.col, sc.q, sc.scratch), 0)
}

// HorizonStat is what the served value reads from the point forecast over
// the horizon before the offset is added: its peak, or its mean. The peak
// follows a forecast that rises within the horizon; where the forecast's
// swings within the horizon are mostly noise the peak counts that noise
// on top of the offset, which covers it already, and the mean serves less
// for the same coverage. Model choice keeps whichever scores best.
type HorizonStat string

// Horizon statistics.
const (
	HorizonPeak HorizonStat = "peak"
	HorizonMean HorizonStat = "mean"
)

// horizonStats are the statistics model choice tries, the peak first.
var horizonStats = []HorizonStat{HorizonPeak, HorizonMean}

// of reads the point forecast fc (leads 1..h) as s.
func (s HorizonStat) of(fc []float64) float64 {
	if s == HorizonMean {
		var m float64
		for _, v := range fc {
			m += v
		}
		return m / float64(len(fc))
	}
	p := math.Inf(-1)
	for _, v := range fc {
		p = math.Max(p, v)
	}
	return p
}

// OffsetScale is how quantile offsets scale with the forecast f: as a
// power of it, from additive (f⁰, noise of a constant size) through the
// square root (count-like noise) to relative (f¹, noise proportional to
// load). The powers between them matter: how much of the margin goes to
// quiet hours decides how many pods the busy hours need at equal safety.
type OffsetScale string

// Offset scales.
const (
	ScaleAdditive      OffsetScale = "additive"            // f⁰
	ScaleFourthRoot    OffsetScale = "fourth-root"         // f^¼
	ScaleSqrt          OffsetScale = "sqrt"                // f^½
	ScaleThreeQuarters OffsetScale = "three-quarter-power" // f^¾
	ScaleRelative      OffsetScale = "relative"            // f¹
)

// offsetScales are the scales model choice tries, additive first.
var offsetScales = []OffsetScale{ScaleAdditive, ScaleFourthRoot, ScaleSqrt, ScaleThreeQuarters, ScaleRelative}

// unit is the size of one offset unit at forecast f.
func (m OffsetScale) unit(f float64) float64 {
	a := math.Abs(f)
	switch m {
	case ScaleFourthRoot:
		return math.Sqrt(math.Sqrt(a))
	case ScaleSqrt:
		return math.Sqrt(a)
	case ScaleThreeQuarters:
		r := math.Sqrt(a)
		return r * math.Sqrt(r)
	case ScaleRelative:
		return a
	}
	return 1
}

// upperOf is the upper forecast from a point forecast f and an offset.
func upperOf(f, off float64, mode OffsetScale) float64 {
	return f + off*mode.unit(f)
}

// losses writes to out[i] the mean pinball loss, on a log scale, of the
// served value with floor share shares[i] (out must be as long) when offsets
// learnt on one fold serve the other. The log scale makes the loss count
// relative misses: an HPA is under-provisioned when the actual exceeds the
// served value by a ratio, whatever the load's size. The offsets do not
// depend on the floor, so every share is scored in one pass, and an origin
// whose latest value is not above the upper forecast, where every share
// serves the same, is scored once.
func (sc *scorer) losses(cd *candidate, mode OffsetScale, shares, out []float64) {
	offs := [2]float64{sc.envOffset(cd, mode, 1), sc.envOffset(cd, mode, 0)} // learnt on parity 0 serves parity 1
	out = out[:len(shares)]
	clear(out)
	cnt := 0
	for o := 0; o < sc.e; o++ {
		if math.IsNaN(sc.peak[o]) {
			continue
		}
		cnt++
		u, b := upperOf(cd.hpk[o], offs[1-(o/sc.fold)%2], mode), cd.hbase[o]
		if b <= u {
			l := sc.pinball(o, u)
			for i := range out {
				out[i] += l
			}
			continue
		}
		for i, share := range shares {
			out[i] += sc.pinball(o, floored(u, b, share))
		}
	}
	for i, l := range out {
		if cnt == 0 || math.IsNaN(l) {
			out[i] = math.Inf(1)
		} else {
			out[i] = l / float64(cnt)
		}
	}
}

// pinball is the loss of serving v at origin o.
func (sc *scorer) pinball(o int, v float64) float64 {
	return pinball(sc.logPeak[o], math.Log(math.Max(v, 0)+sc.shift), sc.q)
}

// logShift is what the scorer adds before taking logs, so that it counts
// relative misses only of loads above the series' noise: the median
// absolute change between consecutive observed steps, and at least 1% of
// the mean absolute value (1 for an all-zero series). Without the noise
// floor a count series that idles near zero (a few events a step at night)
// would be scored mostly on its idle hours, where a miss of one event is a
// large ratio but no capacity. Loads are non-negative; negative values are
// clipped to zero by the scorer.
func logShift(y []float64, obs []bool) float64 {
	var m float64
	for _, v := range y {
		m += math.Abs(v)
	}
	m /= float64(max(1, len(y)))
	if m == 0 {
		return 1
	}
	d := make([]float64, 0, len(y))
	for i := 1; i < len(y); i++ {
		if obs[i] && obs[i-1] {
			d = append(d, math.Abs(y[i]-y[i-1]))
		}
	}
	noise := 0.0
	if len(d) > 0 {
		noise = medianInPlace(d)
	}
	return math.Max(0.01*m, noise)
}

func meanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return 0, 0
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		std += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(std / float64(len(x)))
}
