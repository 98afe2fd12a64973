package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	k8slabels "k8s.io/apimachinery/pkg/labels"
	external_metrics "k8s.io/metrics/pkg/apis/external_metrics/v1beta1"

	"github.com/foresight-dev/foresight/internal/testharness/adapterproc"
	"github.com/foresight-dev/foresight/internal/testharness/procs"
)

func lenItems(l *external_metrics.ExternalMetricValueList) int {
	if l == nil {
		return 0
	}
	return len(l.Items)
}

// bench holds what every phase shares: Prometheus and the cluster.
type bench struct {
	o       options
	root    string
	work    string
	logDir  string
	promURL string
	prom    *procs.Proc
	cl      *benchCluster
	runs    int
}

// startAdapter starts foresight-adapter serve ("foresight") or
// prometheus-adapter ("peer") on a free loopback port, serving set as an
// external metric, with the same serving certificate, kubeconfigs and
// Prometheus. model is foresight's forecast model.
func (b *bench) startAdapter(name string, set seriesSet, model string) (*target, error) {
	b.runs++
	dir := filepath.Join(b.work, name+"-"+strconv.Itoa(b.runs))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	rules := filepath.Join(dir, "rules.yaml")
	var bin string
	var err error
	switch name {
	case adapterproc.Foresight:
		bin = b.o.foresightBin
		err = os.WriteFile(rules, []byte(foresightRules(set, model)), 0o600)
	case adapterproc.Peer:
		bin = b.o.peerBin
		err = os.WriteFile(rules, []byte(peerRules(set)), 0o600)
	default:
		return nil, fmt.Errorf("unknown adapter %q", name)
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", rules, err)
	}
	a, err := adapterproc.Start(adapterproc.Options{Kind: name, Name: name + "-" + strconv.Itoa(b.runs), Bin: bin,
		Dir: dir, LogDir: b.logDir, Config: rules, PrometheusURL: b.promURL, Kubeconfig: b.cl.AdminKubeconfig, CA: b.cl.CA})
	if err != nil {
		return nil, err
	}
	p := a.Proc
	tlsConfig, err := b.cl.client.TLS()
	if err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	selectors, err := serviceSelectors(set)
	if err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return &target{name: name, url: a.URL, metric: set.metric, set: set, proc: p, prom: b.prom, tls: tlsConfig, contentType: b.o.contentType, loadClient: b.o.loadClient, selectors: selectors}, nil
}

// foresightRules is foresight's rule file: the metric forecast per series.
func foresightRules(set seriesSet, model string) string {
	return fmt.Sprintf(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: %[1]s
    query: %[1]s{<<.LabelMatchers>>}
    api: external
    forecast: {step: 1m, model: %[2]s, history: %[3]dm}
`, set.metric, model, int(set.history.Minutes()))
}

// peerRules is prometheus-adapter's equivalent: the same metric over the
// same series, namespaced by the namespace label, queried per request.
func peerRules(set seriesSet) string {
	return fmt.Sprintf(`externalRules:
- seriesQuery: '%[1]s{namespace!="",service!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
  name:
    matches: "^%[1]s$"
    as: "%[1]s"
  metricsQuery: '<<.Series>>{<<.LabelMatchers>>}'
`, set.metric)
}

// warmStart polls the adapter from its process start until every series of
// set answers or timeout passes; it returns the time to the first answered
// series, to all of them, and how many serve at the end.
type warmStart struct {
	first, all time.Duration
	serving    int
	total      int
	timedOut   bool
}

func (w warmStart) String() string {
	if w.timedOut {
		return fmt.Sprintf("NOT all series serving after %s: %d of %d (first answer after %s)", w.all.Round(100*time.Millisecond), w.serving, w.total, w.first.Round(100*time.Millisecond))
	}
	return fmt.Sprintf("all %d series serving %s after process start (first answer after %s)", w.total, w.all.Round(100*time.Millisecond), w.first.Round(100*time.Millisecond))
}

func (t *target) waitServing(ctx context.Context, timeout time.Duration) (warmStart, error) {
	w := warmStart{total: t.set.series()}
	c, err := t.client()
	if err != nil {
		return w, err
	}
	deadline := t.proc.Started.Add(timeout)
	var lastErr error
	for {
		if exited, err := t.proc.Exited(); exited {
			return w, fmt.Errorf("%s exited (%w); log %s:\n%s", t.name, err, t.proc.LogFile, t.proc.Tail(3000))
		}
		n := 0
		for ns := range t.set.namespaces {
			k, err := t.serving(c, t.set.namespace(ns))
			if err != nil {
				lastErr = err
			}
			n += k
		}
		now := time.Since(t.proc.Started)
		if n > 0 && w.first == 0 {
			w.first = now
		}
		w.serving = n
		if n == w.total {
			w.all = now
			return w, nil
		}
		if time.Now().After(deadline) {
			w.all, w.timedOut = now, true
			if n == 0 && lastErr != nil {
				fmt.Printf("    last error while polling %s: %v\n", t.name, lastErr)
			}
			return w, nil
		}
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitFirstAnswer polls one series until it answers (the peer keeps nothing:
// once its series list is loaded every series answers).
func (t *target) waitFirstAnswer(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	c, err := t.client()
	if err != nil {
		return 0, err
	}
	l := t.official(c)
	deadline := t.proc.Started.Add(timeout)
	rng := rand.New(rand.NewPCG(7, 7))
	for {
		if exited, err := t.proc.Exited(); exited {
			return 0, fmt.Errorf("%s exited (%w); log %s:\n%s", t.name, err, t.proc.LogFile, t.proc.Tail(3000))
		}
		err := t.request(ctx, l, rng)
		if err == nil {
			return time.Since(t.proc.Started), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: no answer %s after start: %w; log %s:\n%s", t.name, timeout, err, t.proc.LogFile, t.proc.Tail(3000))
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// idleCPU measures the adapter's CPU use with no requests for d: the
// background work (forecast loop, series relisting) that the phases' CPU per
// request also contains.
func (t *target) idleCPU(ctx context.Context, d time.Duration) (float64, error) {
	c0, t0 := t.proc.CPUTime(), time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	return float64(t.proc.CPUTime()-c0) / float64(time.Since(t0)), nil
}

// merge adds the requests of r to acc (nil: a new total).
func merge(acc, r *result) *result {
	if acc == nil {
		acc = &result{}
	}
	acc.lat = append(acc.lat, r.lat...)
	acc.requests += r.requests
	acc.failed += r.failed
	if acc.firstErr == nil {
		acc.firstErr = r.firstErr
	}
	acc.elapsed += r.elapsed
	acc.adapterCPU += r.adapterCPU
	acc.promCPU += r.promCPU
	acc.clientCPU += r.clientCPU
	slices.Sort(acc.lat)
	return acc
}

// interleaved runs n closed-loop clients against each target in turn, in
// o.rounds rounds of duration/rounds each, so that both adapters see the
// same changes of the shared machine's load; it prints and returns each
// target's total.
func (b *bench) interleaved(ctx context.Context, ts []*target, n int) (map[string]*result, error) {
	if p := b.o.clientProcs; p > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(p))
	}
	acc := map[string]*result{}
	rounds := max(1, b.o.rounds)
	for range rounds {
		for _, t := range ts {
			r, err := t.closedLoop(ctx, n, b.o.duration/time.Duration(rounds))
			if err != nil {
				return nil, err
			}
			acc[t.name] = merge(acc[t.name], r)
		}
	}
	label := strconv.Itoa(n) + " clients"
	if n == 1 {
		label = "1 client"
	}
	for _, t := range ts {
		fmt.Printf("    %-9s %-11s %s\n", t.name, label, acc[t.name])
	}
	return acc, nil
}

// startForesightWarm starts foresight on the 1,000-series set and measures
// its warm start and memory. If the rule's model does not warm within the
// timeout, it starts a second process with the reactive model for the load
// phases, and the report says so.
func (b *bench) startForesightWarm(ctx context.Context, set seriesSet, rep *report) (*target, error) {
	fmt.Printf("\n== foresight-adapter: %s over %d series, %s of history, model %s\n", set.metric, set.series(), set.history, b.o.model)
	t, err := b.startAdapter("foresight", set, b.o.model)
	if err != nil {
		return nil, err
	}
	ws, err := t.waitServing(ctx, b.o.warmTimeout)
	if err != nil {
		t.proc.Stop(10 * time.Second)
		return nil, err
	}
	rep.warm, rep.warmModel = ws, b.o.model
	fmt.Printf("    warm start: %s\n", ws)
	latencyModel := b.o.model
	if ws.timedOut {
		rep.memModel = b.o.model + fmt.Sprintf(" (not warm: %d of %d series)", ws.serving, ws.total)
		rep.foresightMemWarm = t.memory(ctx)
		fmt.Printf("    memory at the timeout (model %s): %s\n", b.o.model, rep.foresightMemWarm)
		t.proc.Stop(10 * time.Second)
		latencyModel = "reactive"
		fmt.Printf("    restarting with model %s for the load phases\n", latencyModel)
		if t, err = b.startAdapter("foresight", set, latencyModel); err != nil {
			return nil, err
		}
		ws2, err := t.waitServing(ctx, b.o.warmTimeout)
		if err != nil || ws2.timedOut {
			t.proc.Stop(10 * time.Second)
			return nil, fmt.Errorf("foresight: not every series serves with model %s either (%v, %w)", latencyModel, ws2, err)
		}
		fmt.Printf("    warm start (model %s): %s\n", latencyModel, ws2)
	}
	b.printSample(ctx, t)
	rep.latencyModel = latencyModel
	if rep.memModel == "" {
		rep.memModel = latencyModel
	}
	mem := t.memory(ctx)
	if !ws.timedOut {
		rep.foresightMemWarm = mem
	}
	fmt.Printf("    memory, all series warm (model %s): %s\n", latencyModel, mem)
	return t, nil
}

// startPeerReady starts prometheus-adapter on the set and waits for its first answer.
func (b *bench) startPeerReady(ctx context.Context, set seriesSet) (*target, time.Duration, error) {
	t, err := b.startAdapter("peer", set, "")
	if err != nil {
		return nil, 0, err
	}
	first, err := t.waitFirstAnswer(ctx, b.o.warmTimeout)
	if err != nil {
		t.proc.Stop(10 * time.Second)
		return nil, 0, err
	}
	return t, first, nil
}

// prepare prints each target's idle CPU and warms its connections.
func (b *bench) prepare(ctx context.Context, ts []*target, conns int) error {
	for _, t := range ts {
		idle, err := t.idleCPU(ctx, 3*time.Second)
		if err != nil {
			return err
		}
		fmt.Printf("    %-9s idle CPU (no requests, 3 s): %.0f%% of a core\n", t.name, 100*idle)
		if _, err := t.closedLoop(ctx, conns, time.Second); err != nil {
			return err
		}
	}
	return nil
}

// latency runs the 1,000-series phases: foresight's warm start and memory,
// the peer's start, then 1 client and o.clients clients on both, interleaved.
func (b *bench) latency(ctx context.Context, set seriesSet, rep *report) error {
	var ts []*target
	defer func() {
		for _, t := range ts {
			t.proc.Stop(10 * time.Second)
		}
	}()
	if slices.Contains(b.o.adapters, "foresight") {
		t, err := b.startForesightWarm(ctx, set, rep)
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	if slices.Contains(b.o.adapters, "peer") {
		fmt.Printf("\n== prometheus-adapter v0.12.0: %s over %d series (queries Prometheus on each request)\n", set.metric, set.series())
		t, first, err := b.startPeerReady(ctx, set)
		if err != nil {
			return err
		}
		ts = append(ts, t)
		rep.peerFirst = first
		fmt.Printf("    start to first answer: %s\n", first.Round(100*time.Millisecond))
		b.printSample(ctx, t)
		rep.peerMemIdle = t.memory(ctx)
		fmt.Printf("    memory, ready: %s\n", rep.peerMemIdle)
	}
	fmt.Printf("\n== closed loop on %d series, %s per adapter and phase in %d interleaved rounds\n", set.series(), b.o.duration, max(1, b.o.rounds))
	if err := b.prepare(ctx, ts, 1); err != nil {
		return err
	}
	one, err := b.interleaved(ctx, ts, 1)
	if err != nil {
		return err
	}
	many, err := b.interleaved(ctx, ts, b.o.clients)
	if err != nil {
		return err
	}
	rep.foresightOne, rep.foresightMany = one["foresight"], many["foresight"]
	rep.peerOne, rep.peerMany = one["peer"], many["peer"]
	for _, t := range ts {
		m := t.memory(ctx)
		fmt.Printf("    %-9s memory after the load: %s\n", t.name, m)
		if t.name == "foresight" {
			rep.foresightMemLoad = m
		} else {
			rep.peerMemLoad = m
		}
	}
	return nil
}

// openLoop runs the open-loop phase on each adapter serving the wide set,
// one adapter process at a time: an adapter that falls behind at a rate
// holds requests and memory for a while, which must not weigh on the other.
func (b *bench) openLoop(ctx context.Context, set seriesSet, rep *report) error {
	fmt.Printf("\n== open loop: %v requests/s for %s each on %s, %d series (%d namespaces x %d), %s of history, foresight model %s\n",
		b.o.rates, b.o.duration, set.metric, set.series(), set.namespaces, set.perNamespace, set.history, b.o.wideModel)
	for _, name := range []string{"foresight", "peer"} {
		if !slices.Contains(b.o.adapters, name) {
			continue
		}
		rs, err := b.openLoopOne(ctx, name, set)
		if err != nil {
			return err
		}
		if name == "foresight" {
			rep.foresightOpen = rs
		} else {
			rep.peerOpen = rs
		}
	}
	return nil
}

// openLoopOne starts one adapter on the wide set and runs every rate on it.
func (b *bench) openLoopOne(ctx context.Context, name string, set seriesSet) ([]*result, error) {
	var t *target
	var err error
	if name == "foresight" {
		if t, err = b.startAdapter("foresight", set, b.o.wideModel); err != nil {
			return nil, err
		}
		defer t.proc.Stop(10 * time.Second)
		ws, err := t.waitServing(ctx, b.o.warmTimeout)
		if err != nil {
			return nil, err
		}
		fmt.Printf("    foresight warm start: %s\n", ws)
		if ws.timedOut {
			return nil, fmt.Errorf("foresight: not every open-loop series serves")
		}
		fmt.Printf("    foresight memory, all series warm: %s\n", t.memory(ctx))
	} else {
		var first time.Duration
		if t, first, err = b.startPeerReady(ctx, set); err != nil {
			return nil, err
		}
		defer t.proc.Stop(10 * time.Second)
		fmt.Printf("    peer      start to first answer: %s\n", first.Round(100*time.Millisecond))
	}
	if err := b.prepare(ctx, []*target{t}, b.o.conns); err != nil {
		return nil, err
	}
	var rs []*result
	for i, rate := range b.o.rates {
		if i > 0 {
			// Let a backlog of the previous rate drain.
			if _, err := t.idleCPU(ctx, 5*time.Second); err != nil {
				return nil, err
			}
		}
		r, err := t.openLoop(ctx, rate, b.o.duration, b.o.conns)
		if err != nil {
			return nil, err
		}
		fmt.Printf("    %-9s %-11s %s\n", t.name, strconv.Itoa(rate)+" req/s", r)
		rs = append(rs, r)
	}
	fmt.Printf("    %-9s memory after the load: %s\n", t.name, t.memory(ctx))
	return rs, nil
}

// printSample prints what the adapter serves for the first series next to
// Prometheus's newest sample of it: both must answer for that one series.
func (b *bench) printSample(ctx context.Context, t *target) {
	ns, svc := t.set.namespace(0), service(0)
	c, err := t.client()
	if err != nil {
		fmt.Printf("    sample: %v\n", err)
		return
	}
	sel, err := k8slabels.Parse("service=" + svc)
	if err != nil {
		fmt.Printf("    sample: %v\n", err)
		return
	}
	l, err := c.NamespacedMetrics(ns).List(t.metric, sel)
	if err != nil || len(l.Items) != 1 {
		fmt.Printf("    sample %s/%s: %d items, error %v\n", ns, svc, lenItems(l), err)
		return
	}
	it := l.Items[0]
	fmt.Printf("    sample %s{namespace=%q,service=%q}: served %s (labels %v, at %s); Prometheus now: %s\n",
		t.metric, ns, svc, it.Value.String(), it.MetricLabels, it.Timestamp.UTC().Format(time.TimeOnly),
		b.promValue(ctx, fmt.Sprintf("%s{namespace=%q,service=%q}", t.metric, ns, svc)))
}
