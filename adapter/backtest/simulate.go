package backtest

import (
	"fmt"
	"math"
	"time"

	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/hpasim"
)

// Timeline is a load trace laid out on the simulation's clock (package
// hpasim, the timeline shadow evaluation shares): ticks of equal length, each
// with the load it carries and the latest sample the HPA can see at its
// start. Build it once per trace and replay it for every strategy and target.
type Timeline struct {
	start      int64
	tick       int64
	load       []float64 // per tick, in units of pod capacity; NaN inside gaps (not scored)
	visible    []int32   // per tick: index of the latest sample at or before the tick's start
	sync       []bool    // per tick: the HPA syncs at its start
	scoredFrom int       // first scored tick (after warm-up)
	capacity   float64
	hpa        hpa.Config
}

// TimelineConfig configures a Timeline.
type TimelineConfig struct {
	// Step is the spacing of the samples.
	Step time.Duration
	// Warmup is the leading time that is simulated but not scored.
	Warmup time.Duration
	// Capacity is the load one ready pod serves.
	Capacity float64
	// HPA is the autoscaler; its Target is replaced on every Replay.
	HPA hpa.Config
}

// NewTimeline lays samples out on the simulation clock (package hpasim). A
// tick is scored when a sample covers it and it starts after the warm-up.
// Load is measured in units of pod capacity, so the HPA's target is a
// fraction of a pod and its milli-unit resolution is a thousandth of a pod
// whatever the trace's unit.
func NewTimeline(samples []Sample, cfg TimelineConfig) (*Timeline, error) {
	if len(samples) < 2 {
		return nil, fmt.Errorf("timeline: need at least 2 samples, got %d", len(samples))
	}
	if !(cfg.Capacity > 0) || math.IsInf(cfg.Capacity, 0) {
		return nil, fmt.Errorf("timeline: capacity %v must be positive and finite", cfg.Capacity)
	}
	h := cfg.HPA
	h.Target = 1
	h.SetDefaults()
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	clk, err := hpasim.NewClock(cfg.Step, h)
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	tick := clk.TickSeconds()
	start, end := samples[0].TS, samples[len(samples)-1].TS
	n := int((end - start) / tick)
	const maxTicks = 50_000_000
	if n > maxTicks {
		return nil, fmt.Errorf("timeline: %d ticks of %ds exceed the limit of %d (trace too long for its step)", n, tick, maxTicks)
	}
	tl := &Timeline{
		start:    start,
		tick:     tick,
		load:     make([]float64, 0, n),
		visible:  make([]int32, 0, n),
		sync:     make([]bool, 0, n),
		capacity: cfg.Capacity,
		hpa:      h,
	}
	warmEnd := start + int64(cfg.Warmup/time.Second)
	tl.scoredFrom = n
	var ticks []hpasim.Tick
	for _, s := range samples {
		ticks = clk.Advance(s.TS, s.Value, ticks[:0])
		for _, tk := range ticks {
			tl.load = append(tl.load, tk.Load/cfg.Capacity)
			tl.visible = append(tl.visible, int32(tk.Visible))
			tl.sync = append(tl.sync, tk.Sync)
			if tk.T >= warmEnd && int(tk.K) < tl.scoredFrom {
				tl.scoredFrom = int(tk.K)
			}
		}
	}
	return tl, nil
}

// ScoredMinutes returns the scored time: ticks after the warm-up that a sample covers.
func (tl *Timeline) ScoredMinutes() float64 {
	var n int
	for k := tl.scoredFrom; k < len(tl.load); k++ {
		if !math.IsNaN(tl.load[k]) {
			n++
		}
	}
	return float64(n) * float64(tl.tick) / 60
}

// Scaling is the outcome of replaying one strategy through the HPA model at one target.
type Scaling struct {
	// Target is the HPA's AverageValue target as a fraction of pod capacity.
	Target float64 `json:"target"`
	// PodMinutes counts every pod, starting ones included, over the scored time.
	PodMinutes float64 `json:"pod_minutes"`
	// UnderProvisionedMinutes is the scored time when load exceeded ready pods x capacity.
	UnderProvisionedMinutes float64 `json:"underprovisioned_minutes"`
	// UnderProvisionedShare is UnderProvisionedMinutes over the scored time.
	UnderProvisionedShare float64 `json:"underprovisioned_share"`
	// UnmetDemandShare is the load above ready capacity over all load.
	UnmetDemandShare float64 `json:"unmet_demand_share"`
	// ScalingActions counts scale updates during the scored time.
	ScalingActions int `json:"scaling_actions"`
	// PeakReplicas is the largest replica count during the scored time.
	PeakReplicas int32 `json:"peak_replicas"`
}

// Replay runs the HPA at target (a fraction of capacity) on the served
// values (one per sample) and scores the scored ticks. When replicas is
// non-nil it receives the replica count of every tick.
func (tl *Timeline) Replay(served []float64, target float64, replicas []int32) (Scaling, error) {
	if len(tl.visible) > 0 && int(tl.visible[len(tl.visible)-1]) >= len(served) {
		return Scaling{}, fmt.Errorf("replay: %d served values for a longer trace", len(served))
	}
	if replicas != nil && len(replicas) != len(tl.load) {
		return Scaling{}, fmt.Errorf("replay: replicas buffer has %d ticks, want %d", len(replicas), len(tl.load))
	}
	cfg := tl.hpa
	cfg.Target = target
	first := served[0] / tl.capacity
	if len(tl.load) > 0 && !math.IsNaN(tl.load[0]) {
		first = tl.load[0]
	}
	sc := hpasim.NewScaler(cfg)
	res := Scaling{Target: target}
	var podTicks, underTicks, scoredTicks int64
	var unmet, demand float64
	for k := range tl.load {
		t := tl.start + int64(k)*tl.tick
		scored := k >= tl.scoredFrom
		rescaled, err := sc.Step(tl.start, hpasim.Tick{K: int64(k), T: t, Sync: tl.sync[k]}, served[tl.visible[k]]/tl.capacity, first)
		if err != nil {
			return Scaling{}, fmt.Errorf("replay at target %v: %w", target, err)
		}
		if rescaled && scored {
			res.ScalingActions++
		}
		total := sc.Total()
		if replicas != nil {
			replicas[k] = total
		}
		load := tl.load[k]
		if !scored || math.IsNaN(load) {
			continue
		}
		scoredTicks++
		podTicks += int64(total)
		res.PeakReplicas = max(res.PeakReplicas, total)
		if ready := float64(sc.Ready(t)); load > ready {
			underTicks++
			unmet += load - ready
		}
		demand += max(load, 0)
	}
	minutes := float64(tl.tick) / 60
	res.PodMinutes = float64(podTicks) * minutes
	res.UnderProvisionedMinutes = float64(underTicks) * minutes
	if scoredTicks > 0 {
		res.UnderProvisionedShare = float64(underTicks) / float64(scoredTicks)
	}
	if demand > 0 {
		res.UnmetDemandShare = unmet / demand
	}
	return res, nil
}

// Ticks returns the number of ticks and the tick length in seconds.
func (tl *Timeline) Ticks() (n int, seconds int64) { return len(tl.load), tl.tick }
