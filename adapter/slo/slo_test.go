package slo

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/hpa"
)

func baseConfig() Config {
	return Config{Capacity: 10, UnderProvisioned: 0.01, MaxUtilization: 1.2, Step: time.Minute,
		HPA: hpa.Config{MaxReplicas: 1000, StartupDelay: 2 * time.Minute}}
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := baseConfig()
	c.SetDefaults()
	if c.MinUtilization != DefaultMinUtilization || c.ReactiveTarget != DefaultReactiveTarget ||
		c.InitialUtilization != DefaultReactiveTarget || c.Window != DefaultWindow || c.Every != DefaultEvery || c.MaxChange != DefaultMaxChange {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Capacity = 0 }, "capacity"},
		{func(c *Config) { c.UnderProvisioned = 1 }, "under-provisioned"},
		{func(c *Config) { c.UnderProvisioned = math.NaN() }, "under-provisioned"},
		{func(c *Config) { c.MaxUtilization = 3 }, "max utilisation"},
		{func(c *Config) { c.MinUtilization = 1.3 }, "min utilisation"},
		{func(c *Config) { c.Window = time.Hour }, "window"},
		{func(c *Config) { c.Step = 1500 * time.Millisecond }, "step"},
		{func(c *Config) { c.Step, c.Window = time.Second, 2*24*time.Hour }, "window"},
	}
	fine := baseConfig()
	fine.Step = time.Second
	fine.SetDefaults()
	if fine.Window != MaxWindowSteps*time.Second {
		t.Errorf("default window at 1s steps %v, want %d steps", fine.Window, MaxWindowSteps)
	}
	for _, b := range bad {
		c := baseConfig()
		b.mut(&c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("config %+v: error %v, want one naming %q", c, err, b.want)
		}
	}
}

// feed runs n steps of load(i) through a controller whose forecaster serves
// served(i, load) and returns the controller.
func feed(t *testing.T, c Config, n int, load func(i int) float64, served func(i int, l float64) float64) *Controller {
	t.Helper()
	ctrl, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		l := load(i)
		if err := ctrl.Observe(1_700_000_000+int64(i)*60, l, served(i, l), false); err != nil {
			t.Fatal(err)
		}
	}
	return ctrl
}

func dailyLoad(seed uint64, noise float64) func(i int) float64 {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	return func(i int) float64 {
		return max(0, 200+100*math.Sin(2*math.Pi*float64(i)/1440)+noise*rng.NormFloat64())
	}
}

func TestPerfectForecastRisesToTheCeilingSlowly(t *testing.T) {
	// The forecaster serves the exact peak of the coming minutes: the load is
	// covered at any utilisation up to 1 less the HPA's tolerance, so the
	// controller climbs to a ceiling below that, by at most MaxChange per
	// evaluation.
	c := baseConfig()
	c.MaxUtilization = 0.85
	load := dailyLoad(1, 0)
	vals := make([]float64, 4*1440+10)
	for i := range vals {
		vals[i] = load(i)
	}
	ctrl, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	prev := ctrl.Utilization()
	for i := 0; i < 4*1440; i++ {
		peak := vals[i]
		for k := 1; k <= 7; k++ {
			peak = max(peak, vals[i+k])
		}
		if err := ctrl.Observe(1_700_000_000+int64(i)*60, vals[i], peak, false); err != nil {
			t.Fatal(err)
		}
		u := ctrl.Utilization()
		if u > c.MaxUtilization+1e-12 || math.Abs(u-prev) > DefaultMaxChange+1e-12 {
			t.Fatalf("step %d: utilisation %v after %v (ceiling %v, max change %v)", i, u, prev, c.MaxUtilization, DefaultMaxChange)
		}
		prev = u
	}
	if u := ctrl.Utilization(); u != c.MaxUtilization {
		t.Errorf("utilisation %v after 4 days of perfect forecasts, want the ceiling %v", u, c.MaxUtilization)
	}
	st := ctrl.Status()
	if st.Evaluations == 0 || st.UnderProvisionedShare > c.UnderProvisioned {
		t.Errorf("status %+v: want evaluations and an achieved share within %v", st, c.UnderProvisioned)
	}
	if !(st.PodMinutes < st.ReactivePodMinutes) {
		t.Errorf("pod-minutes %v, reactive %v: perfect forecasts at u=1 should need fewer than reactive at 0.7", st.PodMinutes, st.ReactivePodMinutes)
	}
}

func TestTighterObjectiveChoosesLowerUtilisation(t *testing.T) {
	// A noisy load served as is (reactive): meeting a tighter objective
	// needs more headroom, so a lower utilisation; and the achieved share
	// over the window stays near the objective.
	run := func(objective float64) *Controller {
		c := baseConfig()
		c.UnderProvisioned = objective
		return feed(t, c, 5*1440, dailyLoad(2, 30), func(_ int, l float64) float64 { return l })
	}
	loose, tight := run(0.05), run(0.002)
	if !(tight.Utilization() < loose.Utilization()) {
		t.Errorf("utilisation at objective 0.2%% %v, at 5%% %v: want lower for the tighter one", tight.Utilization(), loose.Utilization())
	}
	if s := tight.Status(); s.UnderProvisionedShare > 0.01 {
		t.Errorf("objective 0.2%%: achieved %v over the window", s.UnderProvisionedShare)
	}
	if d := tight.Demand(100, false); math.Abs(d-100/(10*tight.Utilization())) > 1e-12 {
		t.Errorf("demand %v, want L/(capacity*u)", d)
	}
}

func TestDeterministicAndRejectsBadSamples(t *testing.T) {
	c := baseConfig()
	a := feed(t, c, 2*1440, dailyLoad(4, 20), func(_ int, l float64) float64 { return 1.1 * l })
	b := feed(t, c, 2*1440, dailyLoad(4, 20), func(_ int, l float64) float64 { return 1.1 * l })
	if a.Status() != b.Status() {
		t.Errorf("same samples, different status: %+v vs %+v", a.Status(), b.Status())
	}
	if err := a.Observe(1_700_000_000, 1, 1, false); err == nil {
		t.Error("a sample before the latest was accepted")
	}
	if err := a.Observe(1_800_000_000, math.NaN(), 1, false); err == nil {
		t.Error("a NaN load was accepted")
	}
	if err := a.Observe(1_800_000_000, 1, math.Inf(1), false); err == nil {
		t.Error("an infinite served value was accepted")
	}
}

func TestEvaluationsFallOnDataTimeBoundaries(t *testing.T) {
	// Controllers started at different minutes evaluate at the same data
	// times (whole hours), so replicas fed the same samples agree.
	c := baseConfig()
	load := dailyLoad(6, 25)
	for _, startMinute := range []int{0, 17, 40} {
		ctrl, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		t0 := int64(1_700_002_800 + startMinute*60) // 1_700_002_800 is on the hour
		evals := int64(0)
		for i := 0; i < 2*1440; i++ {
			ts := t0 + int64(i)*60
			if err := ctrl.Observe(ts, load(i), 1.05*load(i), false); err != nil {
				t.Fatal(err)
			}
			if n := ctrl.Status().Evaluations; n != evals {
				if ts%3600 != 0 {
					t.Fatalf("start minute %d: evaluation at ts %d, %d s past the hour", startMinute, ts, ts%3600)
				}
				evals = n
			}
		}
		if evals < 24 {
			t.Errorf("start minute %d: %d evaluations in 2 days, want one an hour after the first 6 hours", startMinute, evals)
		}
	}
}

func TestFallbackTimeHasItsOwnUtilisation(t *testing.T) {
	// Two days of the reactive fallback (the load itself), then a model
	// serving the exact peak of the coming minutes. The model's time meets
	// the objective at the ceiling; the fallback's needs the reactive
	// margin. Each class gets its own utilisation, and the fallback's time
	// in the window does not hold the model's utilisation down.
	c := baseConfig()
	c.MaxUtilization = 0.85
	load := dailyLoad(8, 30)
	vals := make([]float64, 6*1440+10)
	for i := range vals {
		vals[i] = load(i)
	}
	ctrl, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6*1440; i++ {
		fallback := i < 2*1440
		served := vals[i]
		if !fallback {
			for k := 1; k <= 7; k++ {
				served = max(served, vals[i+k])
			}
		}
		if err := ctrl.Observe(1_700_000_000+int64(i)*60, vals[i], served, fallback); err != nil {
			t.Fatal(err)
		}
	}
	st := ctrl.Status()
	if u := ctrl.Utilization(); u != c.MaxUtilization {
		t.Errorf("model utilisation %v, want the ceiling %v (status %+v)", u, c.MaxUtilization, st)
	}
	uf := ctrl.FallbackUtilization()
	if !(uf < 0.8) || st.FallbackUtilization != uf {
		t.Errorf("fallback utilisation %v (status %v): want the reactive margin, below 0.8", uf, st.FallbackUtilization)
	}
	if d := ctrl.Demand(100, true); math.Abs(d-100/(10*uf)) > 1e-12 {
		t.Errorf("fallback demand %v, want L/(capacity*fallback u)", d)
	}
	if st.UnderProvisionedShare > 1.5*c.UnderProvisioned {
		t.Errorf("achieved %v over the window, objective %v", st.UnderProvisionedShare, c.UnderProvisioned)
	}
}

func TestLateControllerFedItsLookbackServesTheSameUtilisation(t *testing.T) {
	// A controller started later (a restart) and fed Lookback of history
	// serves what one running all along serves; fed only the window, it
	// would still be climbing from its initial utilisation. The same holds
	// when samples are missing in the history read back (a gap the window
	// keeps as a jump in time).
	c := baseConfig()
	c.MaxUtilization, c.Window = 0.85, 12*time.Hour
	load := dailyLoad(9, 0)
	n := 3 * 1440
	vals := make([]float64, n+10)
	for i := range vals {
		vals[i] = load(i)
	}
	const t0 = 1_700_002_800
	end := int64(t0 + (n-1)*60)
	// Gaps: none; 70 minutes in the final window; 10 minutes in the lookback before it.
	for _, gap := range []struct{ from, to, jumps int }{{}, {n - 600, n - 530, 1}, {n - 2000, n - 1990, 0}} {
		// run feeds the samples from Unix second from on, without those in the gap.
		run := func(from int64) *Controller {
			ctrl, err := New(c)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				ts := int64(t0 + i*60)
				if ts < from || (i >= gap.from && i < gap.to) {
					continue
				}
				peak := vals[i]
				for k := 1; k <= 7; k++ {
					peak = max(peak, vals[i+k])
				}
				if err := ctrl.Observe(ts, vals[i], peak, i%500 < 100); err != nil {
					t.Fatal(err)
				}
			}
			return ctrl
		}
		all := run(0)
		late := run(end - int64(c.Lookback()/time.Second))
		short := run(end - int64(c.Window/time.Second))
		if all.Utilization() != late.Utilization() || all.FallbackUtilization() != late.FallbackUtilization() {
			t.Errorf("gap %v: running all along: u %v, fallback %v; started %v before: u %v, fallback %v", gap, all.Utilization(), all.FallbackUtilization(),
				c.Lookback(), late.Utilization(), late.FallbackUtilization())
		}
		if short.Utilization() == all.Utilization() {
			t.Errorf("gap %v: fed only the window, u %v: the test does not need the lookback", gap, short.Utilization())
		}
		if all.win.jumps.len() != gap.jumps || late.win.jumps.len() != gap.jumps {
			t.Errorf("gap %v: the windows record %d and %d jumps, want %d", gap, all.win.jumps.len(), late.win.jumps.len(), gap.jumps)
		}
	}
}
