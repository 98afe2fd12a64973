package hpa

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func mustController(t *testing.T, cfg Config, replicas int32) *Controller {
	t.Helper()
	c, err := NewController(cfg, replicas)
	if err != nil {
		t.Fatalf("NewController: %v", err)
	}
	return c
}

// The tolerance band is [0.9, 1.1] of target*current, inclusive: a ratio of
// exactly 1.1 keeps the count, one milli-unit more scales to ceil(value/target).
func TestToleranceBoundary(t *testing.T) {
	cases := []struct {
		name  string
		value float64
		want  int32
	}{
		{"ratio exactly 1.1 stays", 110, 10},
		{"one milli above 1.1 scales", 110.001, 12},
		{"ratio 1.0 stays", 100, 10},
		{"ratio exactly 0.9 stays", 90, 10},
		{"ratio 1.5 scales to ceil", 150, 15},
		{"value rounds up to a milli-unit", 120.0001, 13},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustController(t, Config{Target: 10, MaxReplicas: 100}, 10)
			d := c.Sync(0, tc.value)
			if d.Desired != tc.want {
				t.Fatalf("value %v: desired %d, want %d (decision %+v)", tc.value, d.Desired, tc.want, d)
			}
			if d.Rescaled != (tc.want != 10) {
				t.Fatalf("rescaled %v, want %v", d.Rescaled, tc.want != 10)
			}
		})
	}
}

func TestProposalBelowToleranceIsCeil(t *testing.T) {
	c := mustController(t, Config{Target: 10, MaxReplicas: 100}, 10)
	if got := c.Proposal(89.99, 10); got != 9 {
		t.Fatalf("proposal for 89.99 at 10 pods: %d, want 9", got)
	}
	if got := c.Proposal(0, 10); got != 0 {
		t.Fatalf("proposal for 0: %d, want 0", got)
	}
}

// Default scale-up: max(current+4, 2*current) per 15 s.
func TestScaleUpLimit(t *testing.T) {
	cases := []struct {
		current int32
		want    int32
	}{
		{1, 5},   // 4 pods beat 100%
		{2, 6},   // 4 pods beat 100% (4)
		{4, 8},   // equal
		{10, 20}, // 100% beats 4 pods
	}
	for _, tc := range cases {
		c := mustController(t, Config{Target: 1, MaxReplicas: 1000}, tc.current)
		if d := c.Sync(0, 500); d.Desired != tc.want {
			t.Errorf("current %d: desired %d, want %d", tc.current, d.Desired, tc.want)
		}
	}
}

// A scale-up 15 s ago no longer counts (the controller's cutoff is strict),
// but one 5 s ago does: the period starts from the count before it.
func TestScaleUpLimitCountsEventsWithinPeriod(t *testing.T) {
	c := mustController(t, Config{Target: 1, MaxReplicas: 1000}, 2)
	steps := []struct {
		at   int64
		want int32
	}{
		{0, 6},   // 2 -> max(2+4, 4)
		{5, 6},   // period start 6-4=2 -> limit 6: no change
		{15, 12}, // event at 0 is exactly 15 s old: excluded -> max(10, 12)
		{20, 12}, // period start 12-6=6 -> max(10, 12) = 12
		{30, 24},
	}
	for _, s := range steps {
		if d := c.Sync(s.at, 500); d.Desired != s.want {
			t.Fatalf("t=%d: desired %d, want %d", s.at, d.Desired, s.want)
		}
	}
}

// The scale-down stabilization window holds the highest recommendation of
// the last 300 s, the initial replica count included.
func TestStabilizationHoldsScaleDown(t *testing.T) {
	c := mustController(t, Config{Target: 10, MaxReplicas: 100}, 10)
	if d := c.Sync(0, 100); d.Desired != 10 {
		t.Fatalf("t=0: desired %d", d.Desired)
	}
	for at := int64(15); at < 300; at += 15 {
		d := c.Sync(at, 50)
		if d.Proposal != 5 || d.Desired != 10 || d.Rescaled {
			t.Fatalf("t=%d: %+v, want proposal 5 held at 10", at, d)
		}
	}
	// At t=300 the recommendation of t=0 is exactly 300 s old and drops out.
	if d := c.Sync(300, 50); d.Desired != 5 || !d.Rescaled {
		t.Fatalf("t=300: %+v, want 5", d)
	}
}

// A brief dip then recovery never scales down; a later spike inside the
// window raises the held value.
func TestStabilizationUsesHighestRecommendation(t *testing.T) {
	c := mustController(t, Config{Target: 10, MaxReplicas: 100}, 10)
	c.Sync(0, 100)
	c.Sync(15, 80) // proposal 8, held at 10
	c.Sync(30, 70) // proposal 7, held at 10
	// Recommendations of the window: 10 (t=0 twice), 8, 7.
	if d := c.Sync(300, 60); d.Desired != 8 {
		t.Fatalf("t=300: desired %d, want 8 (highest in (0, 300])", d.Desired)
	}
	if d := c.Sync(315, 60); d.Desired != 7 {
		t.Fatalf("t=315: desired %d, want 7", d.Desired)
	}
	if d := c.Sync(330, 60); d.Desired != 6 {
		t.Fatalf("t=330: desired %d, want 6", d.Desired)
	}
}

func TestMinMaxClamps(t *testing.T) {
	t.Run("max bounds a scale-up", func(t *testing.T) {
		c := mustController(t, Config{Target: 1, MinReplicas: 2, MaxReplicas: 8}, 2)
		if d := c.Sync(0, 100); d.Desired != 6 {
			t.Fatalf("desired %d, want 6", d.Desired)
		}
		if d := c.Sync(15, 100); d.Desired != 8 {
			t.Fatalf("desired %d, want 8 (max)", d.Desired)
		}
	})
	t.Run("min bounds a scale-down", func(t *testing.T) {
		c := mustController(t, Config{Target: 1, MinReplicas: 3, MaxReplicas: 8}, 6)
		c.Sync(0, 0)
		if d := c.Sync(300, 0); d.Desired != 3 {
			t.Fatalf("desired %d, want 3 (min)", d.Desired)
		}
	})
	t.Run("current above max is brought down at once", func(t *testing.T) {
		c := mustController(t, Config{Target: 1, MaxReplicas: 8}, 20)
		if d := c.Sync(0, 100); d.Desired != 8 || !d.Rescaled {
			t.Fatalf("%+v, want 8", d)
		}
	})
	t.Run("current below min is brought up at once", func(t *testing.T) {
		c := mustController(t, Config{Target: 1, MinReplicas: 5, MaxReplicas: 8}, 1)
		if d := c.Sync(0, 0); d.Desired != 5 {
			t.Fatalf("%+v, want 5", d)
		}
	})
	t.Run("zero replicas disables scaling", func(t *testing.T) {
		c := mustController(t, Config{Target: 1, MaxReplicas: 8}, 0)
		if d := c.Sync(0, 100); d.Desired != 0 || d.Rescaled {
			t.Fatalf("%+v, want no change", d)
		}
	})
}

func TestCustomScaleDownPolicies(t *testing.T) {
	b := DefaultBehavior()
	b.ScaleDown = Rules{
		StabilizationWindow: 0,
		Policies: []Policy{
			{Type: PodsPolicy, Value: 1, Period: 60 * time.Second},
			{Type: PercentPolicy, Value: 50, Period: 60 * time.Second},
		},
	}
	// Max select for scale-down allows the larger change: 50% of 5 is 2.5,
	// truncated to 2 remaining; one pod less would leave 4.
	c := mustController(t, Config{Target: 1, MaxReplicas: 100, Behavior: &b}, 5)
	if d := c.Sync(0, 0); d.Desired != 2 {
		t.Fatalf("desired %d, want 2", d.Desired)
	}
	// Within the 60 s period the period start is 5 again: limit 2, no further change.
	if d := c.Sync(30, 0); d.Desired != 2 {
		t.Fatalf("desired %d, want 2", d.Desired)
	}
	if d := c.Sync(61, 0); d.Desired != 1 {
		t.Fatalf("desired %d, want 1 (min)", d.Desired)
	}

	b.ScaleDown.Select = SelectMin
	c = mustController(t, Config{Target: 1, MaxReplicas: 100, Behavior: &b}, 5)
	if d := c.Sync(0, 0); d.Desired != 4 {
		t.Fatalf("min select: desired %d, want 4", d.Desired)
	}
	b.ScaleDown.Select = SelectDisabled
	c = mustController(t, Config{Target: 1, MaxReplicas: 100, Behavior: &b}, 5)
	if d := c.Sync(0, 0); d.Desired != 5 {
		t.Fatalf("disabled: desired %d, want 5", d.Desired)
	}
}

func TestPodsStartupDelay(t *testing.T) {
	p := NewPods(2, 120*time.Second, 0)
	p.Scale(0, 5)
	for _, c := range []struct {
		at   int64
		want int32
	}{{0, 2}, {119, 2}, {120, 5}} {
		if got := p.Ready(c.at); got != c.want {
			t.Fatalf("ready at %d: %d, want %d", c.at, got, c.want)
		}
	}
	p = NewPods(2, 120*time.Second, 0)
	p.Scale(0, 5)
	p.Scale(60, 3) // removes starting pods first
	if p.Total() != 3 || p.Ready(60) != 2 || p.Ready(120) != 3 {
		t.Fatalf("after scale-down: total %d ready@60 %d ready@120 %d, want 3 2 3", p.Total(), p.Ready(60), p.Ready(120))
	}
	p.Scale(90, 6)
	if p.Ready(209) != 3 || p.Ready(210) != 6 {
		t.Fatalf("second scale-up: ready@209 %d ready@210 %d, want 3 6", p.Ready(209), p.Ready(210))
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{Target: 0, MaxReplicas: 10},
		{Target: 1, MaxReplicas: 0},
		{Target: 1, MinReplicas: 5, MaxReplicas: 3},
		{Target: 1, MaxReplicas: 10, Tolerance: 1.5},
		{Target: 1, MaxReplicas: 10, SyncPeriod: 1500 * time.Millisecond},
		{Target: 0.0001, MaxReplicas: 10},
	}
	for i, c := range bad {
		if _, err := NewController(c, 1); err == nil {
			t.Errorf("config %d (%+v): no error", i, c)
		}
	}
}

// naiveController restates the controller's rules as literally as possible,
// keeping every recommendation and scale event, to check the optimised
// Controller against on random inputs.
type naiveController struct {
	cfg      Config
	replicas int32
	recs     []recommendation
	ups      []scaleEvent
	downs    []scaleEvent
	started  bool
}

func (n *naiveController) sync(now int64, value float64) int32 {
	c := &Controller{cfg: n.cfg, targetMilli: int64(n.cfg.Target*1000 + 0.5)}
	cur := n.replicas
	if !n.started {
		n.recs = append(n.recs, recommendation{cur, now})
		n.started = true
	}
	var desired int32
	switch {
	case cur == 0 && n.cfg.MinReplicas != 0:
		return cur
	case cur > n.cfg.MaxReplicas:
		desired = n.cfg.MaxReplicas
	case cur < n.cfg.MinReplicas:
		desired = n.cfg.MinReplicas
	default:
		prop := c.Proposal(value, cur)
		upCut := now - int64(n.cfg.Behavior.ScaleUp.StabilizationWindow/time.Second)
		downCut := now - int64(n.cfg.Behavior.ScaleDown.StabilizationWindow/time.Second)
		up, down := prop, prop
		for _, r := range n.recs {
			if r.at > upCut && r.replicas < up {
				up = r.replicas
			}
			if r.at > downCut && r.replicas > down {
				down = r.replicas
			}
		}
		n.recs = append(n.recs, recommendation{prop, now})
		rec := cur
		if rec < up {
			rec = up
		}
		if rec > down {
			rec = down
		}
		desired = rec
		limit := func(r Rules, upward bool) int32 {
			if r.Select == SelectDisabled {
				return cur
			}
			var best int32
			for i, p := range r.Policies {
				cut := now - int64(p.Period/time.Second)
				start := cur - changeSince(n.ups, cut) + changeSince(n.downs, cut)
				var v int32
				switch {
				case upward && p.Type == PodsPolicy:
					v = start + p.Value
				case upward:
					v = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
				case p.Type == PodsPolicy:
					v = start - p.Value
				default:
					v = int32(float64(start) * (1 - float64(p.Value)/100))
				}
				largest := (r.Select != SelectMin) == upward
				if i == 0 || (largest && v > best) || (!largest && v < best) {
					best = v
				}
			}
			return best
		}
		if desired > cur {
			l := max(limit(n.cfg.Behavior.ScaleUp, true), cur)
			desired = min(desired, min(n.cfg.MaxReplicas, l))
		} else if desired < cur {
			l := min(limit(n.cfg.Behavior.ScaleDown, false), cur)
			desired = max(desired, max(n.cfg.MinReplicas, l))
		}
	}
	if desired > cur {
		n.ups = append(n.ups, scaleEvent{desired - cur, now})
	} else if desired < cur {
		n.downs = append(n.downs, scaleEvent{cur - desired, now})
	}
	n.replicas = desired
	return desired
}

func TestControllerMatchesNaiveRestatement(t *testing.T) {
	slow := DefaultBehavior()
	slow.ScaleUp = Rules{StabilizationWindow: 60 * time.Second, Policies: []Policy{{PodsPolicy, 2, 60 * time.Second}, {PercentPolicy, 50, 30 * time.Second}}, Select: SelectMin}
	slow.ScaleDown = Rules{StabilizationWindow: 120 * time.Second, Policies: []Policy{{PodsPolicy, 1, 45 * time.Second}, {PercentPolicy, 20, 90 * time.Second}}}
	behaviors := []Behavior{DefaultBehavior(), slow}
	rng := rand.New(rand.NewPCG(3, 4))
	for b, beh := range behaviors {
		for trial := range 50 {
			cfg := Config{Target: 0.5 + rng.Float64()*3, MinReplicas: 1 + rng.Int32N(3), MaxReplicas: 20 + rng.Int32N(40), Behavior: &beh}
			cfg.SetDefaults()
			initial := 1 + rng.Int32N(30)
			c, err := NewController(cfg, initial)
			if err != nil {
				t.Fatal(err)
			}
			n := &naiveController{cfg: cfg, replicas: initial}
			level := rng.Float64() * 60
			for k := range 600 {
				now := int64(k) * 15
				if rng.IntN(10) == 0 {
					level = rng.Float64() * 80
				}
				v := max(level+rng.NormFloat64()*3, 0)
				got := c.Sync(now, v).Desired
				want := n.sync(now, v)
				if got != want {
					t.Fatalf("behavior %d trial %d step %d (t=%d, value %.3f): controller %d, restatement %d", b, trial, k, now, v, got, want)
				}
			}
		}
	}
}

// TestScaleToZero checks minReplicas 0 (the HPAScaleToZero gate): the metric
// scales the target from zero and back to zero, while without ScaleToZero a
// zero minReplicas means 1.
func TestScaleToZero(t *testing.T) {
	b := DefaultBehavior()
	b.ScaleDown.StabilizationWindow = 0
	c, err := NewController(Config{Target: 1, MaxReplicas: 10, ScaleToZero: true, Behavior: &b}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range []struct {
		value float64
		want  int32
	}{{0, 0}, {0.2, 1}, {3, 3}, {0, 0}, {0, 0}} {
		if d := c.Sync(int64(15*i), s.value); d.Desired != s.want {
			t.Errorf("sync %d on %v: %d replicas, want %d", i, s.value, d.Desired, s.want)
		}
	}
	one, err := NewController(Config{Target: 1, MaxReplicas: 10, Behavior: &b}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := one.Sync(0, 0); d.Desired != 1 || one.Config().MinReplicas != 1 {
		t.Errorf("without ScaleToZero: %d replicas, minReplicas %d; want 1 and 1", d.Desired, one.Config().MinReplicas)
	}
}
