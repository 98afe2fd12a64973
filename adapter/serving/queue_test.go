package serving

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// queueRules has a queue rule (arrivals per second and backlog per queue)
// and a plain rule bounded by a schedule and an event. testNow is Monday
// 2026-11-02 12:00 UTC.
const queueRules = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
- name: worker_demand
  query: max by (namespace, queue) (arrivals{<<.LabelMatchers>>})
  forecast: {step: 1m, model: reactive, horizon: 5m, staleAfter: 5m}
  queue:
    backlog: max by (namespace, queue) (backlog{<<.LabelMatchers>>})
    throughput: 1
    drainTime: 5m
    wakeLead: 2m
    coolDown: 5m
- name: bounded_load
  query: max by (namespace) (load{<<.LabelMatchers>>})
  forecast: {step: 1m, model: reactive}
  schedule:
  - {days: [mon], start: "12:00", end: "13:00", timeZone: Europe/Berlin, min: 100}
  - {start: "11:00", end: "13:00", min: 15}
  - {start: "12:00", end: "12:30", max: 12}
  events:
  - {start: "2026-11-02T11:00:00Z", end: "2026-11-02T12:01:00Z", multiplier: 2}
`

func TestQueueAndScheduleServing(t *testing.T) {
	reg := prometheus.NewRegistry()
	emb := newEmbedded(t, reg)
	put := func(from, to time.Time, v float64, kv ...string) {
		appendMinutely(t, emb, from, to, constant(v), kv...)
	}
	from := testNow.Add(-time.Hour)
	// busy: 2 jobs/s arrive, 600 wait: 2/1 + 600/(1*300) = 4 workers.
	put(from, testNow, 2, "__name__", "arrivals", "namespace", "busy", "queue", "q")
	put(from, testNow, 600, "__name__", "backlog", "namespace", "busy", "queue", "q")
	// idle: nothing for an hour, then a job at testNow+1m.
	put(from, testNow.Add(2*time.Minute), 0, "__name__", "arrivals", "namespace", "idle", "queue", "q")
	put(from, testNow, 0, "__name__", "backlog", "namespace", "idle", "queue", "q")
	put(testNow.Add(time.Minute), testNow.Add(time.Minute), 1, "__name__", "backlog", "namespace", "idle", "queue", "q")
	put(testNow.Add(2*time.Minute), testNow.Add(2*time.Minute), 0, "__name__", "backlog", "namespace", "idle", "queue", "q")
	// A fresh loop (a restarted adapter) honours the cool-down of work it
	// only sees in history: a backlog 2 minutes ago, arrivals 3 minutes ago.
	put(from, testNow, 0, "__name__", "arrivals", "namespace", "drained", "queue", "q")
	put(from, testNow.Add(-2*time.Minute), 5, "__name__", "backlog", "namespace", "drained", "queue", "q")
	put(testNow.Add(-time.Minute), testNow, 0, "__name__", "backlog", "namespace", "drained", "queue", "q")
	put(from, testNow.Add(-3*time.Minute), 1, "__name__", "arrivals", "namespace", "quiet", "queue", "q")
	put(testNow.Add(-2*time.Minute), testNow, 0, "__name__", "arrivals", "namespace", "quiet", "queue", "q")
	put(from, testNow, 0, "__name__", "backlog", "namespace", "quiet", "queue", "q")
	// frozen: the backlog exporter stopped 10 minutes ago (staleAfter 5m).
	put(from, testNow, 0, "__name__", "arrivals", "namespace", "frozen", "queue", "q")
	put(from, testNow.Add(-10*time.Minute), 0, "__name__", "backlog", "namespace", "frozen", "queue", "q")
	// blind: arrivals but no backlog series: stale, never zero.
	put(from, testNow.Add(2*time.Minute), 0, "__name__", "arrivals", "namespace", "blind", "queue", "q")
	put(from, testNow.Add(2*time.Minute), 5, "__name__", "load", "namespace", "shop")

	c := runClockedLoop(t, reg, emb, queueRules)
	store, m := c.store, c.metrics

	served := func(metric, ns string) (float64, error) {
		t.Helper()
		es, _, err := store.Lookup(Query{Metric: metric, API: APIExternal, Namespace: ns})
		if err != nil {
			return 0, err
		}
		if len(es) != 1 {
			t.Fatalf("%s/%s: %d entries", metric, ns, len(es))
		}
		return es[0].Forecast.Value, nil
	}
	expect := func(when, metric, ns string, want float64) {
		t.Helper()
		if got, err := served(metric, ns); err != nil || got != want {
			t.Errorf("%s: %s in %s = %v, %v; want %v", when, metric, ns, got, err, want)
		}
	}
	expect("t0", "worker_demand", "busy", 4)
	expect("t0", "worker_demand", "idle", 0)
	expect("t0", "worker_demand", "drained", 1)
	expect("t0", "worker_demand", "quiet", 1)
	var stale *StaleError
	for _, ns := range []string{"blind", "frozen"} {
		if v, err := served("worker_demand", ns); !errors.As(err, &stale) {
			t.Errorf("%s: queue without a fresh backlog: served %v, %v; want a StaleError", ns, v, err)
		}
	}
	// 5 * 2 (event) = 10, floors 15 and 100 (12:00 UTC is 13:00 in Berlin: that
	// window is over), ceiling 12: the ceiling wins.
	expect("t0", "bounded_load", "shop", 12)
	for name, want := range map[*prometheus.GaugeVec]float64{m.scheduleFloor: 15, m.scheduleCeiling: 12, m.scheduleMultiplier: 2} {
		if got := testutil.ToFloat64(name.WithLabelValues("bounded_load")); got != want {
			t.Errorf("schedule gauge = %v, want %v", got, want)
		}
	}
	gauges := seriesGauges(t, m, "foresight_queue_idle")
	if gauges[`worker_demand|idle|namespace="idle",queue="q"`] != 1 || gauges[`worker_demand|busy|namespace="busy",queue="q"`] != 0 {
		t.Errorf("foresight_queue_idle = %v", gauges)
	}
	if got := seriesGauges(t, m, "foresight_queue_backlog")[`worker_demand|busy|namespace="busy",queue="q"`]; got != 600 {
		t.Errorf("foresight_queue_backlog = %v, want 600", got)
	}

	step := func() { c.advance(t, time.Minute, 2) }
	step() // t0+1m: a job waits in idle; the event is over.
	expect("t0+1m", "worker_demand", "idle", 1)
	expect("t0+1m", "bounded_load", "shop", 12)
	if got := testutil.ToFloat64(m.scheduleMultiplier.WithLabelValues("bounded_load")); got != 1 {
		t.Errorf("multiplier after the event = %v, want 1", got)
	}
	step() // t0+2m: drained, but within the cool-down: one worker stays.
	expect("t0+2m", "worker_demand", "idle", 1)
}

// TestScheduleRulesReloadEqual checks that loading the same rule file twice
// gives equal rules, so that a reload keeps the running workers' state.
func TestScheduleRulesReloadEqual(t *testing.T) {
	a, err := ConfigLoader("rules.yaml", []byte(queueRules))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ConfigLoader("rules.yaml", []byte(queueRules))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("the same rule file loaded twice gives different rules")
	}
}
