package forecast

import (
	"slices"
	"testing"
	"time"
)

func TestMedianOfThree(t *testing.T) {
	in := []float64{1, 5, 1, 1, 9, 9, 9, 2, 3, 2}
	// The first two samples pass as they are; then the median of each
	// sample and the two before: a one-sample spike (9 at index 4 is not
	// one: it lasts) vanishes, a lasting change comes one sample late.
	want := []float64{1, 5, 1, 1, 1, 9, 9, 9, 3, 2}
	var m medianOfThree
	got := make([]float64, len(in))
	for i, v := range in {
		got[i] = m.next(v)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("medians %v, want %v", got, want)
	}
}

// spiky is a daily sine with one-sample spikes of three times the load on
// about one sample in thirty, and a gap of a few steps.
func spiky(n int, step time.Duration, seed uint64) series {
	rng := newRand(seed)
	base := sinusoid(step, 100, 40)
	s := generate(n, step, func(i int) float64 {
		v := base(i) * (1 + 0.02*rng.NormFloat64())
		if rng.IntN(30) == 0 {
			v *= 3
		}
		return v
	})
	// A short gap (interpolated, not a reset).
	cut := n / 2
	s.ts = append(s.ts[:cut:cut], s.ts[cut+4:]...)
	s.vals = append(s.vals[:cut:cut], s.vals[cut+4:]...)
	return s
}

// TestFilterSpikesReadsTheRunningMedian: with FilterSpikes a forecaster fed
// the raw samples serves exactly what one without it serves when fed the
// running median of three, so every part of it (models, model choice,
// offsets, drift, floor, evaluation) reads the filtered series.
func TestFilterSpikesReadsTheRunningMedian(t *testing.T) {
	step := 10 * time.Minute
	raw := spiky(4*144, step, 1)
	filtered := series{ts: raw.ts, vals: make([]float64, len(raw.vals)), step: step}
	var m medianOfThree
	for i, v := range raw.vals {
		filtered.vals[i] = m.next(v)
	}
	st := Settings{Step: step, Horizon: 30 * time.Minute, WarmUp: 24 * time.Hour, RefitInterval: 12 * time.Hour}
	plain := replay(t, st, filtered)
	st.FilterSpikes = true
	got := replay(t, st, raw)
	models := 0
	for i := range got {
		if got[i] != plain[i] {
			t.Fatalf("row %d: with FilterSpikes on the raw samples %+v, without it on their medians %+v", i, got[i], plain[i])
		}
		if !got[i].Fallback {
			models++
		}
	}
	if models == 0 {
		t.Fatal("no model was served: the comparison covered the reactive value only")
	}
}

// TestFilterSpikesKeepsASpikeOutOfTheServedValue: after a one-sample spike
// the reactive floor serves the spike, and the HPA would hold pods for it;
// with FilterSpikes the served value stays near the load. A change that
// lasts is followed from its second sample.
func TestFilterSpikesKeepsASpikeOutOfTheServedValue(t *testing.T) {
	step := 10 * time.Minute
	n := 3 * 144
	s := generate(n, step, sinusoid(step, 100, 40))
	spike := n - 20
	s.vals[spike] *= 5
	for i := n - 10; i < n; i++ { // a lasting doubling at the end
		s.vals[i] *= 2
	}
	st := Settings{Step: step, Horizon: 30 * time.Minute, WarmUp: 24 * time.Hour}
	raw := replay(t, st, s)
	st.FilterSpikes = true
	filtered := replay(t, st, s)
	if raw[spike].Value < s.vals[spike] {
		t.Fatalf("without the filter, served %v below the spike %v (the floor)", raw[spike].Value, s.vals[spike])
	}
	if v := filtered[spike].Value; v > 2*s.vals[spike-1] {
		t.Errorf("with the filter, served %v at a spike of %v over a load of %v", v, s.vals[spike], s.vals[spike-1])
	}
	if filtered[spike].Observed != max(s.vals[spike-1], s.vals[spike-2]) {
		t.Errorf("observed %v at the spike, want the median of it and the two before (%v)", filtered[spike].Observed, max(s.vals[spike-1], s.vals[spike-2]))
	}
	first := n - 10
	if filtered[first].Observed >= s.vals[first] {
		t.Errorf("the first sample of a doubling was read at once (%v)", filtered[first].Observed)
	}
	if got, want := filtered[first+1].Observed, min(s.vals[first], s.vals[first+1]); got != want {
		t.Errorf("second sample of the doubling read as %v, want %v", got, want)
	}
	if filtered[first+1].Value < filtered[first+1].Observed {
		t.Errorf("served %v below the value read %v with the floor on", filtered[first+1].Value, filtered[first+1].Observed)
	}
}

// TestFilterSpikesLookback: a forecaster started late needs the two samples
// before its window's first, which that sample's median reads.
func TestFilterSpikesLookback(t *testing.T) {
	st := Settings{Step: time.Minute}
	plain := st.Lookback()
	st.FilterSpikes = true
	if got := st.Lookback(); got != plain+2*time.Minute {
		t.Errorf("lookback %v with the filter, want %v", got, plain+2*time.Minute)
	}
}
