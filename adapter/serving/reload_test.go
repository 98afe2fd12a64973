package serving

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/source"
)

var testNow = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

func rulesYAML(rules ...string) string {
	return "apiVersion: foresight.dev/v1alpha1\nkind: MetricRules\nrules:\n" + strings.Join(rules, "")
}

func ruleYAML(name, query, extra string) string {
	return "  - name: " + name + "\n    query: " + query + "\n    api: external\n    forecast: {step: 1m, model: reactive" + extra + "}\n"
}

type testLoop struct {
	loop    *Loop
	store   *Store
	metrics *Metrics
	emb     *source.Embedded
}

// newTestLoop runs a loop at testNow on an embedded source holding an hour
// of the series load in namespaces a and b.
func newTestLoop(t *testing.T) *testLoop {
	t.Helper()
	return newTestLoopWith(t, 10*time.Millisecond, func(emb *source.Embedded) {
		for i, ns := range []string{"a", "b"} {
			samples := make([]source.Sample, 60)
			for j := range samples {
				samples[j] = source.Sample{T: testNow.Add(-time.Duration(59-j) * time.Minute).UnixMilli(), V: float64(100*(i+1) + j)}
			}
			if err := emb.AppendSeries(labels.FromStrings("__name__", "load", "namespace", ns), samples); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// newTestLoopWith runs a loop at testNow, cycling every interval, on an
// embedded source that fill fills.
func newTestLoopWith(t *testing.T, interval time.Duration, fill func(*source.Embedded)) *testLoop {
	t.Helper()
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	fill(emb)
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	store := NewStore(func() time.Time { return testNow })
	loop := startTestLoop(t, LoopOptions{Source: emb, Store: store, Metrics: m, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return testNow }, Interval: interval})
	return &testLoop{loop: loop, store: store, metrics: m, emb: emb}
}

// startLoopAt runs a loop with options o, new metrics registered on reg, a new store on o's
// clock and a cycle every 50 ms, until the test ends.
func startLoopAt(t *testing.T, o LoopOptions, reg prometheus.Registerer) (*Loop, *Store, *Metrics) {
	t.Helper()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	o.Metrics, o.Store, o.Interval = m, NewStore(o.Now), 50*time.Millisecond
	return startTestLoop(t, o), o.Store, m
}

// startTestLoop runs a loop with options o until the test ends.
func startTestLoop(t *testing.T, o LoopOptions) *Loop {
	t.Helper()
	loop, err := NewLoop(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { loop.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return loop
}

func (tl *testLoop) worker(name string) *worker {
	tl.loop.mu.Lock()
	defer tl.loop.mu.Unlock()
	return tl.loop.workers[name]
}

func (tl *testLoop) served(t *testing.T, metric, ns string) float64 {
	t.Helper()
	es, _, err := tl.store.Lookup(Query{Metric: metric, API: APIExternal, Namespace: ns})
	if err != nil {
		t.Fatalf("lookup %s in %s: %v", metric, ns, err)
	}
	if len(es) != 1 {
		t.Fatalf("lookup %s in %s: %d entries", metric, ns, len(es))
	}
	return es[0].Forecast.Value
}

// clockedLoop is a running loop whose data clock a test moves.
type clockedLoop struct {
	loop    *Loop
	store   *Store
	metrics *Metrics
	rules   []Rule       // the rules it runs
	clock   atomic.Int64 // Unix seconds
	cycles  atomic.Int64 // successful cycles
}

// runClockedLoop runs the rules of rulesYAML on src at testNow, cycling
// every 10 ms, with metrics on reg, until the test ends; it returns after
// the first cycle of every rule.
func runClockedLoop(t *testing.T, reg prometheus.Registerer, src source.Source, rulesYAML string) *clockedLoop {
	t.Helper()
	return runClockedLoopWith(t, reg, LoopOptions{Source: src}, ConfigLoader, rulesYAML)
}

// runClockedLoopWith is runClockedLoop with the loop options o (their
// source, the optional metrics of a rule kind, the logger: a nil one
// discards) and the rules loaded by load; the clock, store, metrics,
// interval and cycle count are set here.
func runClockedLoopWith(t *testing.T, reg prometheus.Registerer, o LoopOptions, load RuleLoader, rulesYAML string) *clockedLoop {
	t.Helper()
	c := &clockedLoop{}
	c.clock.Store(testNow.Unix())
	now := func() time.Time { return time.Unix(c.clock.Load(), 0) }
	var err error
	if c.metrics, err = NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	c.store = NewStore(now)
	o.Store, o.Metrics, o.Now, o.Interval = c.store, c.metrics, now, 10*time.Millisecond
	o.OnCycle = func(string, *Snapshot) { c.cycles.Add(1) }
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if c.loop, err = NewLoop(o); err != nil {
		t.Fatal(err)
	}
	if c.rules, err = load("rules.yaml", []byte(rulesYAML)); err != nil {
		t.Fatal(err)
	}
	if err := c.loop.SetRules(c.rules); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.loop.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitUntil(t, "first cycle", c.loop.Ready)
	return c
}

// advance moves the clock by d and waits for every one of the rules'
// cycles to have run on it.
func (c *clockedLoop) advance(t *testing.T, d time.Duration, rules int) {
	t.Helper()
	n := c.cycles.Load()
	c.clock.Add(int64(d / time.Second))
	waitUntil(t, "next cycle", func() bool { return c.cycles.Load() >= n+int64(rules) })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReload(t *testing.T) {
	tl := newTestLoop(t)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	r := NewReloader([]string{path}, ConfigLoader, tl.loop, tl.metrics, slog.New(slog.DiscardHandler), 10*time.Millisecond)
	successes := func() float64 { return testutil.ToFloat64(tl.metrics.reloads.WithLabelValues("success")) }
	failures := func() float64 { return testutil.ToFloat64(tl.metrics.reloads.WithLabelValues("failure")) }

	writeFile(t, path, rulesYAML(ruleYAML("keep", "load{<<.LabelMatchers>>}", ""), ruleYAML("change", "load{<<.LabelMatchers>>}", "")))
	if err := r.Reload(true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "first cycle", tl.loop.Ready)
	if got := tl.served(t, "keep", "a"); got != 159 {
		t.Errorf("keep in a = %v, want 159 (last sample)", got)
	}
	keep, change := tl.worker("keep"), tl.worker("change")

	t.Run("valid file replaces the rules, unchanged rules keep their state", func(t *testing.T) {
		writeFile(t, path, rulesYAML(
			ruleYAML("keep", "load{<<.LabelMatchers>>}", ""),
			ruleYAML("change", "2 * load{<<.LabelMatchers>>}", ""),
			ruleYAML("added", "load{<<.LabelMatchers>>} + 1", "")))
		if err := r.Reload(false); err != nil {
			t.Fatal(err)
		}
		if tl.worker("keep") != keep {
			t.Error("unchanged rule was restarted")
		}
		if tl.worker("change") == change {
			t.Error("changed rule kept its old worker")
		}
		waitUntil(t, "new rules served", tl.loop.Ready)
		waitUntil(t, "changed rule's new query", func() bool {
			es, _, err := tl.store.Lookup(Query{Metric: "change", API: APIExternal, Namespace: "b"})
			return err == nil && len(es) == 1 && es[0].Forecast.Value == 2*259
		})
		if got := tl.served(t, "added", "a"); got != 160 {
			t.Errorf("added in a = %v, want 160", got)
		}
		if got := testutil.ToFloat64(tl.metrics.rules); got != 3 {
			t.Errorf("foresight_adapter_rules = %v, want 3", got)
		}
		if successes() != 2 || failures() != 0 {
			t.Errorf("reloads success=%v failure=%v, want 2, 0", successes(), failures())
		}
	})

	t.Run("invalid file is refused, counted, last good rules keep serving", func(t *testing.T) {
		writeFile(t, path, rulesYAML(ruleYAML("keep", "load{<<.LabelMatchers>>}", ", bogusField: 1")))
		err := r.Reload(false)
		if err == nil {
			t.Fatal("invalid file accepted")
		}
		if !strings.Contains(err.Error(), "rules.yaml:") || !strings.Contains(err.Error(), "bogusField") {
			t.Errorf("error %q does not name the file, line and field", err)
		}
		if failures() != 1 || testutil.ToFloat64(tl.metrics.lastReload) != 0 {
			t.Errorf("failure count %v, last successful %v; want 1, 0", failures(), testutil.ToFloat64(tl.metrics.lastReload))
		}
		if err := r.Reload(false); err != nil || failures() != 1 {
			t.Errorf("unchanged invalid file re-tried: err %v, failures %v", err, failures())
		}
		if tl.worker("added") == nil || tl.worker("keep") != keep {
			t.Error("rules changed after a refused file")
		}
		if got := tl.served(t, "added", "a"); got != 160 {
			t.Errorf("added in a = %v after a refused file, want 160", got)
		}
		// A rule file that parses but cannot run (a query the template check rejects) is refused too.
		writeFile(t, path, rulesYAML(ruleYAML("keep", "load", "")))
		if err := r.Reload(false); err == nil {
			t.Error("rule without <<.LabelMatchers>> accepted")
		}
		if failures() != 2 {
			t.Errorf("failures = %v, want 2", failures())
		}
	})

	t.Run("polling picks up a changed file", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		wg.Go(func() { r.Run(ctx) })
		defer wg.Wait()
		defer cancel()
		writeFile(t, path, rulesYAML(ruleYAML("only", "load{<<.LabelMatchers>>}", "")))
		waitUntil(t, "polled reload", func() bool { return tl.worker("only") != nil && tl.worker("keep") == nil })
		waitUntil(t, "removed rules leave the store", func() bool { return tl.store.Snapshot("keep") == nil })
		if testutil.ToFloat64(tl.metrics.lastReload) != 1 {
			t.Error("last reload not marked successful")
		}
	})
}

// TestReloadRefusesBadQueueScheduleEvents: serving's reload (the one serve
// runs at start, where an error stops it, and on every change) refuses a
// queue rule without its backlog query, a schedule with an unknown day or
// time zone and an event that ends before it starts, naming the file, line
// and field; the last good rules keep serving.
func TestReloadRefusesBadQueueScheduleEvents(t *testing.T) {
	tl := newTestLoop(t)
	path := filepath.Join(t.TempDir(), "rules.yaml")
	r := NewReloader([]string{path}, ConfigLoader, tl.loop, tl.metrics, slog.New(slog.DiscardHandler), 10*time.Millisecond)
	good := rulesYAML(`  - name: workers
    query: sum by (namespace) (load{<<.LabelMatchers>>})
    api: external
    forecast: {step: 1m, model: reactive}
    schedule:
      - {days: [mon-fri], start: "08:00", end: "18:00", timeZone: Europe/Berlin, min: 2}
    events:
      - {name: launch, start: "2026-11-27T06:00:00+01:00", end: "2026-11-28T00:00:00+01:00", min: 5}
    queue:
      backlog: max by (namespace) (load{<<.LabelMatchers>>})
      throughput: 1000
`)
	writeFile(t, path, good)
	if err := r.Reload(true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "first cycle", tl.loop.Ready)
	before := tl.worker("workers")
	for _, tc := range []struct{ name, old, new, want string }{
		{"queue without backlog", "      backlog: max by (namespace) (load{<<.LabelMatchers>>})\n", "", "rules.yaml:12: rules[0].queue.backlog: required"},
		{"unknown day", "[mon-fri]", "[mon-fry]", `rules.yaml:9: rules[0].schedule[0].days: unknown day "fry"`},
		{"unknown time zone", "Europe/Berlin", "Europe/Berlim", `rules.yaml:9: rules[0].schedule[0].timeZone: unknown IANA time zone "Europe/Berlim"`},
		{"event ends before it starts", `end: "2026-11-28T00:00:00+01:00"`, `end: "2026-11-26T00:00:00+01:00"`,
			"rules.yaml:11: rules[0].events[0].end: must be after start 2026-11-27T06:00:00+01:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the rules lack %q", tc.old)
			}
			writeFile(t, path, strings.Replace(good, tc.old, tc.new, 1))
			err := r.Reload(false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("reload: %v; want an error with %q", err, tc.want)
			}
			if tl.worker("workers") != before {
				t.Error("the refused file replaced the running rule")
			}
			if es, _, err := tl.store.Lookup(Query{Metric: "workers", API: APIExternal, Namespace: "a"}); err != nil || len(es) != 1 {
				t.Errorf("the last good rule stopped serving: %v, %v", es, err)
			}
		})
	}
}

// TestReloadRefreshAndFiles: the rules of several files are served together, a
// metric in two files is refused, and RefreshEvery reloads unchanged files (the
// rediscovery of imported configs).
func TestReloadRefreshAndFiles(t *testing.T) {
	tl := newTestLoop(t)
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one.yaml"), filepath.Join(dir, "two.yaml")
	writeFile(t, one, rulesYAML(ruleYAML("first", "load{<<.LabelMatchers>>}", "")))
	writeFile(t, two, rulesYAML(ruleYAML("second", "load{<<.LabelMatchers>>}", "")))
	var loads atomic.Int64
	counting := func(path string, data []byte) ([]Rule, error) {
		loads.Add(1)
		return ConfigLoader(path, data)
	}
	r := NewReloader([]string{one, two}, counting, tl.loop, tl.metrics, slog.New(slog.DiscardHandler), time.Hour)
	if err := r.Reload(true); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "first cycle", tl.loop.Ready)
	for _, m := range []string{"first", "second"} {
		if got := tl.served(t, m, "a"); got != 159 {
			t.Errorf("%s in a = %v, want 159", m, got)
		}
	}
	writeFile(t, two, rulesYAML(ruleYAML("first", "load{<<.LabelMatchers>>}", "")))
	if err := r.Reload(false); err == nil || !strings.Contains(err.Error(), `metric "first" is served by two rules`) {
		t.Errorf("a metric in two files: err = %v", err)
	}
	if got := tl.served(t, "second", "a"); got != 159 {
		t.Errorf("after the refused reload, second in a = %v, want 159", got)
	}
	writeFile(t, two, rulesYAML(ruleYAML("second", "load{<<.LabelMatchers>>}", "")))
	if err := r.Reload(false); err != nil {
		t.Fatal(err)
	}
	before := loads.Load()
	r.RefreshEvery(5 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	waitUntil(t, "a refresh of unchanged files", func() bool { return loads.Load() >= before+4 })
	cancel()
	<-done
}
