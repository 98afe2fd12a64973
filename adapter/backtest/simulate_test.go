package backtest

import (
	"math"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/hpa"
)

// series returns one-minute samples at ts 0..3600 with value f(ts).
func series(f func(ts int64) float64) []Sample {
	var s []Sample
	for ts := int64(0); ts <= 3600; ts += 60 {
		s = append(s, Sample{TS: ts, Value: f(ts)})
	}
	return s
}

func values(s []Sample) []float64 {
	v := make([]float64, len(s))
	for i := range s {
		v[i] = s[i].Value
	}
	return v
}

func newTestTimeline(t *testing.T, samples []Sample) *Timeline {
	t.Helper()
	tl, err := NewTimeline(samples, TimelineConfig{
		Step:     time.Minute,
		Capacity: 1,
		HPA:      hpa.Config{MaxReplicas: 1000, StartupDelay: 120 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// A step from 10 to 20 at ts 1860 (load of (1800, 1860]) replayed reactively
// at target 100%: the HPA sees 20 at 1860, scales 10 -> 20 (the 100% policy),
// the new pods serve from 1980, so ticks 1800..1965 are short: 3 minutes.
func TestReplayReactiveStep(t *testing.T) {
	samples := series(func(ts int64) float64 {
		if ts <= 1800 {
			return 10
		}
		return 20
	})
	tl := newTestTimeline(t, samples)
	if n, tick := tl.Ticks(); n != 240 || tick != 15 {
		t.Fatalf("ticks %d of %ds, want 240 of 15s", n, tick)
	}
	replicas := make([]int32, 240)
	got, err := tl.Replay(values(samples), 1.0, replicas)
	if err != nil {
		t.Fatal(err)
	}
	// 124 ticks (0..1845) at 10 pods, 116 ticks (1860..3585) at 20 pods.
	want := Scaling{
		Target:                  1,
		PodMinutes:              (124*10 + 116*20) * 0.25,
		UnderProvisionedMinutes: 3,
		UnderProvisionedShare:   12.0 / 240,
		UnmetDemandShare:        120.0 / 3600,
		ScalingActions:          1,
		PeakReplicas:            20,
	}
	if !near(got.PodMinutes, want.PodMinutes) || !near(got.UnderProvisionedMinutes, want.UnderProvisionedMinutes) ||
		!near(got.UnderProvisionedShare, want.UnderProvisionedShare) || !near(got.UnmetDemandShare, want.UnmetDemandShare) ||
		got.ScalingActions != want.ScalingActions || got.PeakReplicas != want.PeakReplicas {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if replicas[123] != 10 || replicas[124] != 20 {
		t.Fatalf("replicas around 1860: %d %d, want 10 20", replicas[123], replicas[124])
	}
}

// An oracle that serves the peak of the next 5 minutes scales at 1560 and
// has its pods ready at 1680, before the step: no under-provisioning.
func TestReplayOracleAvoidsUnderProvisioning(t *testing.T) {
	samples := series(func(ts int64) float64 {
		if ts <= 1800 {
			return 10
		}
		return 20
	})
	tl := newTestTimeline(t, samples)
	served := horizonPeaks(samples, 300)
	for i := range served {
		served[i] = max(nanTo(served[i], samples[i].Value), samples[i].Value)
	}
	got, err := tl.Replay(served, 1.0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.UnderProvisionedMinutes != 0 || got.ScalingActions != 1 || !near(got.PodMinutes, (104*10+136*20)*0.25) {
		t.Fatalf("got %+v, want 0 under-provisioned minutes, 1 action, 940 pod-minutes", got)
	}
}

func nanTo(v, alt float64) float64 {
	if math.IsNaN(v) {
		return alt
	}
	return v
}

// A jump from 2 to 40 climbs as the scale-up policy allows:
// 2 -> 6 (4 pods) -> 12 -> 24 (100%) -> 40, one step per 15 s sync.
func TestReplayScaleUpRateLimit(t *testing.T) {
	samples := series(func(ts int64) float64 {
		if ts <= 1800 {
			return 2
		}
		return 40
	})
	tl := newTestTimeline(t, samples)
	replicas := make([]int32, 240)
	if _, err := tl.Replay(values(samples), 1.0, replicas); err != nil {
		t.Fatal(err)
	}
	want := map[int]int32{123: 2, 124: 6, 125: 12, 126: 24, 127: 40, 200: 40}
	for k, w := range want {
		if replicas[k] != w {
			t.Errorf("tick %d (t=%d): %d replicas, want %d", k, k*15, replicas[k], w)
		}
	}
}

// A drop from 20 to 10 seen at 1860 is held by the 300 s stabilization
// window until the last recommendation of 20 (at 1845) leaves it: 2145.
func TestReplayScaleDownStabilization(t *testing.T) {
	samples := series(func(ts int64) float64 {
		if ts <= 1800 {
			return 20
		}
		return 10
	})
	tl := newTestTimeline(t, samples)
	replicas := make([]int32, 240)
	got, err := tl.Replay(values(samples), 1.0, replicas)
	if err != nil {
		t.Fatal(err)
	}
	if replicas[2130/15] != 20 || replicas[2145/15] != 10 {
		t.Fatalf("replicas at 2130, 2145: %d %d, want 20 10", replicas[2130/15], replicas[2145/15])
	}
	if got.UnderProvisionedMinutes != 0 || got.ScalingActions != 1 {
		t.Fatalf("got %+v", got)
	}
}

// A ramp of +1 per minute inside the tolerance band: the HPA only acts
// once the load exceeds 110% of the current replicas' target.
func TestReplayRampRespectsTolerance(t *testing.T) {
	samples := series(func(ts int64) float64 { return 20 + float64(ts/60) })
	tl := newTestTimeline(t, samples)
	replicas := make([]int32, 240)
	if _, err := tl.Replay(values(samples), 1.0, replicas); err != nil {
		t.Fatal(err)
	}
	// Initial 21 pods (the first tick's load). The HPA sees 23.1 > 1.1*21
	// only with the sample of ts 240 (value 24): 24/21 = 1.143 -> 24 pods.
	if replicas[239/15] != 21 || replicas[240/15] != 24 {
		t.Fatalf("replicas at 225, 240: %d %d, want 21 24", replicas[239/15], replicas[240/15])
	}
}

func TestReplayWarmupAndGaps(t *testing.T) {
	var samples []Sample
	for ts := int64(0); ts <= 3600; ts += 60 {
		if ts > 600 && ts <= 1200 { // a 10-minute gap
			continue
		}
		samples = append(samples, Sample{TS: ts, Value: 5})
	}
	tl, err := NewTimeline(samples, TimelineConfig{
		Step: time.Minute, Warmup: 30 * time.Minute, Capacity: 1,
		HPA: hpa.Config{MaxReplicas: 100, StartupDelay: 120 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tl.ScoredMinutes(); got != 30 {
		t.Fatalf("scored minutes %v, want 30 (after warm-up)", got)
	}
	tl, err = NewTimeline(samples, TimelineConfig{
		Step: time.Minute, Capacity: 1,
		HPA: hpa.Config{MaxReplicas: 100, StartupDelay: 120 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tl.ScoredMinutes(); got != 50 {
		t.Fatalf("scored minutes %v, want 50 (60 minus the 10-minute gap)", got)
	}
	res, err := tl.Replay(values(samples), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.PodMinutes != 250 || res.UnderProvisionedMinutes != 0 {
		t.Fatalf("got %+v, want 250 pod-minutes (5 pods x 50 scored minutes)", res)
	}
}
