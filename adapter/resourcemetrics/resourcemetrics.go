// Package resourcemetrics reads containers' and nodes' CPU and memory usage
// from Prometheus for the resource metrics API (metrics.k8s.io, what
// metrics-server serves for kubectl top and the HPA's Resource metrics).
//
// A Refresher runs one instant query per resource and kind (container CPU,
// container memory, node CPU, node memory) per cycle in the background and
// publishes the results as one immutable Snapshot; requests are answered from
// it. A snapshot older than the staleness limit is an error, never zeros.
package resourcemetrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/source"
)

// DefaultWindow is the window reported when the rules give none (as prometheus-adapter's).
const DefaultWindow = 5 * time.Minute

// DefaultMaxSeries bounds the series one query may return (and so the memory
// of a snapshot): about 200 bytes per container.
const DefaultMaxSeries = 500_000

// Query is one rule's query template and the labels naming what a result
// series measures.
type Query struct {
	// Template renders the query (parsed with TemplateOptions); its matchers
	// restrict it to series naming the object (the labels below not empty).
	Template *source.Template
	// NamespaceLabel, PodLabel and ContainerLabel name a container's namespace,
	// pod and container (container queries).
	NamespaceLabel, PodLabel, ContainerLabel string
	// NodeLabel names a node (node queries; empty in container queries).
	NodeLabel string
}

// Rules are the four queries of the resource metrics and their window.
type Rules struct {
	ContainerCPU, ContainerMemory Query
	NodeCPU, NodeMemory           Query
	// Window is the interval CPU rates are taken over, reported with every item.
	Window time.Duration
}

// Usage is a CPU rate in cores and a memory working set in bytes.
type Usage struct {
	CPU    float64
	Memory float64
}

// Container is one container's usage.
type Container struct {
	Name string
	Usage
}

// Pod is a pod's containers' usage at Timestamp (the oldest of its samples).
type Pod struct {
	Namespace, Name string
	Timestamp       time.Time
	Containers      []Container // sorted by name
}

// Node is a node's usage at Timestamp.
type Node struct {
	Name      string
	Timestamp time.Time
	Usage
}

// Snapshot is the result of one refresh. It is immutable.
type Snapshot struct {
	// At is when the refresh ran.
	At time.Time
	// Window is the rules' window.
	Window time.Duration
	// Pods maps namespace, then pod name, to the pod's usage.
	Pods map[string]map[string]*Pod
	// Nodes maps node name to the node's usage.
	Nodes map[string]*Node
}

// Querier runs instant queries (source.Prometheus).
type Querier interface {
	Query(ctx context.Context, query string, ts time.Time) ([]source.Series, error)
}

// Options configure a Refresher. Querier is required.
type Options struct {
	Querier Querier
	// Rules are the initial rules (none when nil: see SetRules).
	Rules *Rules
	// Interval is the time between refreshes (30s when zero).
	Interval time.Duration
	// StaleAfter is how old a snapshot may be before reads fail (3 intervals when zero).
	StaleAfter time.Duration
	// MaxSeries bounds the series of one query (DefaultMaxSeries when zero).
	MaxSeries int
	// Now is the clock (time.Now when nil).
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer receives the refresher's metrics (not registered when nil).
	Registerer prometheus.Registerer
}

// Refresher keeps the latest Snapshot.
type Refresher struct {
	o Options
	// refreshes counts refreshes by result; lastSuccess is the time of the last good one.
	refreshes   *prometheus.CounterVec
	lastSuccess prometheus.Gauge
	rules       atomic.Pointer[Rules]
	snap        atomic.Pointer[Snapshot]
	mu          sync.Mutex
	err         error // of the last refresh
}

// ErrNotReady is returned before the first successful refresh.
var ErrNotReady = errors.New("resource metrics: no refresh succeeded yet")

// ErrNoRules is returned while no rules are loaded.
var ErrNoRules = errors.New("resource metrics: no resourceRules loaded")

// NewRefresher returns a Refresher; call Run or Refresh.
func NewRefresher(o Options) (*Refresher, error) {
	if o.Querier == nil {
		return nil, errors.New("resource metrics: a querier is required")
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 3 * o.Interval
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	r := &Refresher{
		o: o,
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foresight_resource_metrics_refreshes_total",
			Help: "Refreshes of the resource metrics (metrics.k8s.io) from Prometheus, by result (success, failure).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "foresight_resource_metrics_last_success_timestamp_seconds",
			Help: "Time of the last successful refresh of the resource metrics; reads fail once it is older than the staleness limit.",
		}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{r.refreshes, r.lastSuccess} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("resource metrics: register metrics: %w", err)
			}
		}
	}
	r.SetRules(o.Rules)
	return r, nil
}

// SetRules replaces the rules (nil: none); the next refresh uses them. The
// current snapshot is dropped when the rules change, so that reads never mix
// old rules with new ones.
func (r *Refresher) SetRules(rules *Rules) {
	if rules != nil && rules.Window <= 0 {
		c := *rules
		c.Window = DefaultWindow
		rules = &c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.rules.Load(); !old.equal(rules) {
		r.rules.Store(rules)
		r.snap.Store(nil)
	}
}

// Run refreshes every interval until ctx is done.
func (r *Refresher) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		if err := r.Refresh(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrNoRules) {
			r.o.Logger.Warn("resource metrics refresh failed; serving the last snapshot until it is stale", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh runs the four queries once and publishes their result. On error
// the previous snapshot stays. Without rules it returns ErrNoRules.
func (r *Refresher) Refresh(ctx context.Context) error {
	if r.rules.Load() == nil {
		return ErrNoRules
	}
	now := r.o.Now()
	err := r.refresh(ctx, now)
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
	if err != nil {
		r.refreshes.WithLabelValues("failure").Inc()
	} else {
		r.refreshes.WithLabelValues("success").Inc()
		r.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
	}
	return err
}

func (r *Refresher) refresh(ctx context.Context, now time.Time) error {
	rules := r.rules.Load()
	if rules == nil {
		return ErrNoRules
	}
	s := &Snapshot{At: now, Window: rules.Window, Pods: map[string]map[string]*Pod{}, Nodes: map[string]*Node{}}
	type containerKey struct{ ns, pod, name string }
	containers := map[containerKey]*sampled{}
	for _, q := range []struct {
		name string
		q    *Query
		mem  bool
	}{{"container cpu", &rules.ContainerCPU, false}, {"container memory", &rules.ContainerMemory, true}} {
		series, err := r.run(ctx, q.name, q.q, now)
		if err != nil {
			return err
		}
		for _, se := range series {
			k := containerKey{se.Labels.Get(q.q.NamespaceLabel), se.Labels.Get(q.q.PodLabel), se.Labels.Get(q.q.ContainerLabel)}
			if k.ns == "" || k.pod == "" || k.name == "" {
				continue
			}
			containers[k] = containers[k].add(se, q.mem)
		}
	}
	for k, c := range containers {
		if !c.complete() {
			continue // metrics-server reports a container only with both resources
		}
		byName := s.Pods[k.ns]
		if byName == nil {
			byName = map[string]*Pod{}
			s.Pods[k.ns] = byName
		}
		p := byName[k.pod]
		if p == nil {
			p = &Pod{Namespace: k.ns, Name: k.pod, Timestamp: c.ts}
			byName[k.pod] = p
		}
		if c.ts.Before(p.Timestamp) {
			p.Timestamp = c.ts
		}
		p.Containers = append(p.Containers, Container{Name: k.name, Usage: c.usage})
	}
	for _, byName := range s.Pods {
		for _, p := range byName {
			slices.SortFunc(p.Containers, func(a, b Container) int { return cmp.Compare(a.Name, b.Name) })
		}
	}
	nodes := map[string]*sampled{}
	for _, q := range []struct {
		name string
		q    *Query
		mem  bool
	}{{"node cpu", &rules.NodeCPU, false}, {"node memory", &rules.NodeMemory, true}} {
		series, err := r.run(ctx, q.name, q.q, now)
		if err != nil {
			return err
		}
		for _, se := range series {
			if n := se.Labels.Get(q.q.NodeLabel); n != "" {
				nodes[n] = nodes[n].add(se, q.mem)
			}
		}
	}
	for name, c := range nodes {
		if c.complete() {
			s.Nodes[name] = &Node{Name: name, Timestamp: c.ts, Usage: c.usage}
		}
	}
	if r.rules.Load() == rules {
		r.snap.Store(s)
	}
	return nil
}

// TemplateOptions are how a Query's template is parsed (source.ParseTemplateWith).
// Render fills <<.LabelMatchers>> with the same fixed matchers on every
// refresh, never with a request's values, so a selector may go without them
// (node_cpu_seconds_total{mode="idle"} joined with kube_pod_info{<<.LabelMatchers>>},
// as kube-prometheus writes it) as long as one selector carries them: it can
// neither be injected into nor read another tenant's series for a request.
func TemplateOptions() source.TemplateOptions {
	return source.TemplateOptions{AllowUnscopedSelectors: true}
}

// Render renders the query for every object at once: restricted to the
// series where the labels naming the object (namespace and pod, or node) are set.
func (q *Query) Render() (string, error) {
	nonEmpty := []string{q.NamespaceLabel, q.PodLabel}
	if q.NodeLabel != "" {
		nonEmpty = []string{q.NodeLabel}
	}
	ms := make([]*labels.Matcher, 0, len(nonEmpty))
	for _, l := range nonEmpty {
		m, err := labels.NewMatcher(labels.MatchNotEqual, l, "")
		if err != nil {
			return "", err
		}
		ms = append(ms, m)
	}
	return q.Template.Render(ms)
}

// run runs q at now.
func (r *Refresher) run(ctx context.Context, name string, q *Query, now time.Time) ([]source.Series, error) {
	text, err := q.Render()
	if err != nil {
		return nil, fmt.Errorf("%s query: %w", name, err)
	}
	series, err := r.o.Querier.Query(ctx, text, now)
	if err != nil {
		return nil, fmt.Errorf("%s query: %w", name, err)
	}
	if len(series) > r.o.MaxSeries {
		return nil, fmt.Errorf("%s query returned %d series, more than the limit of %d", name, len(series), r.o.MaxSeries)
	}
	return series, nil
}

// sampled gathers one object's CPU and memory samples.
type sampled struct {
	usage          Usage
	hasCPU, hasMem bool
	ts             time.Time
}

func (c *sampled) add(se source.Series, mem bool) *sampled {
	if c == nil {
		c = &sampled{}
	}
	if len(se.Samples) == 0 {
		return c
	}
	smp := se.Samples[len(se.Samples)-1]
	if math.IsNaN(smp.V) || math.IsInf(smp.V, 0) || smp.V < 0 {
		return c
	}
	ts := time.UnixMilli(smp.T)
	if c.ts.IsZero() || ts.Before(c.ts) {
		c.ts = ts
	}
	if mem {
		c.usage.Memory, c.hasMem = c.usage.Memory+smp.V, true
	} else {
		c.usage.CPU, c.hasCPU = c.usage.CPU+smp.V, true
	}
	return c
}

func (c *sampled) complete() bool { return c.hasCPU && c.hasMem }

// Snapshot returns the latest snapshot, or an error when there is none or it
// is older than the staleness limit.
func (r *Refresher) Snapshot() (*Snapshot, error) {
	s := r.snap.Load()
	r.mu.Lock()
	last := r.err
	r.mu.Unlock()
	if r.rules.Load() == nil {
		return nil, ErrNoRules
	}
	if s == nil {
		if last != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotReady, last)
		}
		return nil, ErrNotReady
	}
	if age := r.o.Now().Sub(s.At); age > r.o.StaleAfter {
		stale := fmt.Sprintf("resource metrics are stale: last refresh %s ago, limit %s", age.Round(time.Second), r.o.StaleAfter)
		if last != nil {
			return nil, fmt.Errorf("%s (last error: %w)", stale, last)
		}
		return nil, errors.New(stale)
	}
	return s, nil
}

// equal reports whether a and b query the same.
func (a *Rules) equal(b *Rules) bool {
	if a == nil || b == nil {
		return a == b
	}
	same := func(x, y Query) bool {
		return x.Template.Text() == y.Template.Text() && x.NamespaceLabel == y.NamespaceLabel && x.PodLabel == y.PodLabel &&
			x.ContainerLabel == y.ContainerLabel && x.NodeLabel == y.NodeLabel
	}
	return a.Window == b.Window && same(a.ContainerCPU, b.ContainerCPU) && same(a.ContainerMemory, b.ContainerMemory) &&
		same(a.NodeCPU, b.NodeCPU) && same(a.NodeMemory, b.NodeMemory)
}

// Files gathers the rules of several configuration files into a Refresher:
// at most one file may carry resourceRules.
type Files struct {
	refresher *Refresher
	mu        sync.Mutex
	byPath    map[string]*Rules
}

// NewFiles returns Files feeding r.
func NewFiles(r *Refresher) *Files { return &Files{refresher: r, byPath: map[string]*Rules{}} }

// Set records the rules of the file at path (nil: it has none) and applies
// the files' rules. A second file with rules is refused with an error.
func (f *Files) Set(path string, rules *Rules) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var active *Rules
	for p, r := range f.byPath {
		if p != path && r != nil {
			if rules != nil {
				return fmt.Errorf("%s: resourceRules: %s has resourceRules already; give them in one file", path, p)
			}
			active = r
		}
	}
	f.byPath[path] = rules
	if rules != nil {
		active = rules
	}
	f.refresher.SetRules(active)
	return nil
}
