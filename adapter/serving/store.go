// Package serving keeps the current served value of every forecast series in
// memory. A background loop (Loop) queries the metric source per rule, feeds
// each result series to its own forecast.Forecaster and publishes an
// immutable snapshot per rule into a Store; API requests read the Store only,
// lock-free, and never wait on the source or on model fitting.
package serving

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/forecast"
)

// API names the Kubernetes metrics API a rule is served on.
type API string

// The metrics APIs.
const (
	// APIExternal serves on external.metrics.k8s.io.
	APIExternal API = "external"
	// APIObject serves on custom.metrics.k8s.io for namespaced objects (services, deployments, ...).
	APIObject API = "object"
	// APIPods serves on custom.metrics.k8s.io for pods.
	APIPods API = "pods"
)

// Entry is the served value of one series. Entries are immutable once published.
type Entry struct {
	// Labels are the series' labels as returned by the rule's query.
	Labels labels.Labels
	// Key is Labels in canonical text form, the series identity.
	Key string
	// Namespace is the value of the rule's namespace label.
	Namespace string
	// Object is the name of the Kubernetes object the series belongs to
	// (object and pods rules); empty for external rules.
	Object string
	// SeriesName is the series' "series" label on the adapter's own metrics:
	// Object for object and pods rules, the labels as k="v",... for external ones.
	SeriesName string
	// Forecast is the forecaster's output after the latest sample; Forecast.At
	// is the sample time in Unix seconds.
	Forecast forecast.Forecast
	// Queue is what a queue rule's demand was computed from (nil for other rules).
	Queue *QueueValue
}

// Time returns the sample time of the served value.
func (e *Entry) Time() time.Time { return time.Unix(e.Forecast.At, 0) }

// RuleInfo describes a served rule: the metric name and where it is served.
type RuleInfo struct {
	// Metric is the metric name served by the API.
	Metric string
	// API is the metrics API it is served on.
	API API
	// Resource is the object kind for object and pods rules (for example
	// {Resource: "services"}, {Group: "apps", Resource: "deployments"}, {Resource: "pods"}).
	Resource schema.GroupResource
	// NamespaceLabel is the series label holding the namespace.
	NamespaceLabel string
	// StaleAfter is the age of a served value past which reads fail.
	StaleAfter time.Duration
	// ClusterWide (external rules) serves every series of the rule to a
	// request in any namespace: the snapshot holds them all under
	// ClusterWideKey, and a series may have no namespace.
	ClusterWide bool
}

// NamespacesResource is the resource of namespace metrics: one value per
// namespace, served on custom.metrics.k8s.io at
// /namespaces/{namespace}/metrics/{metric} next to a pods or object metric
// of the same name.
var NamespacesResource = schema.GroupResource{Resource: "namespaces"}

// StoreKey is the name a rule is stored and run under: its metric for pods
// and external rules, config.ObjectKey for an object rule, so that a metric
// name can be served for pods and for other objects (namespaces among them).
func (i RuleInfo) StoreKey() string {
	if i.API == APIObject {
		return config.ObjectKey(i.Resource, i.Metric)
	}
	return i.Metric
}

// NamespacesKey is the store key of metric's namespaces rule.
func NamespacesKey(metric string) string { return config.ObjectKey(NamespacesResource, metric) }

// ClusterWideKey is the ByNamespace key of a cluster-wide rule's entries
// (RuleInfo.ClusterWide). No namespace is named "".
const ClusterWideKey = ""

// Snapshot is the immutable state of one rule at the end of a cycle.
type Snapshot struct {
	// Info describes the rule.
	Info RuleInfo
	// ByNamespace holds the rule's entries per namespace, sorted by Key.
	ByNamespace map[string][]*Entry
	// byLabel indexes each namespace's entries by label name and value, so that
	// a request with an equality matcher filters a handful of entries.
	byLabel map[string]map[string]map[string][]*Entry
	// Series is the number of entries.
	Series int
	// Ready is true once the rule completed its first successful cycle.
	Ready bool
}

// ErrUnknownMetric is returned (wrapped) for a metric no rule serves.
var ErrUnknownMetric = errors.New("unknown metric")

// StaleError reports that a served value is older than the rule's staleness limit,
// or that the rule has not served yet. It is never reported as "not found": the
// HPA must hold its replica count instead of scaling on a missing value.
type StaleError struct {
	// Metric is the metric name.
	Metric string
	// Series is the stale series, or empty when the rule has not served yet.
	Series string
	// Age is the age of the stale value.
	Age time.Duration
	// Limit is the rule's staleness limit.
	Limit time.Duration
}

func (e *StaleError) Error() string {
	if e.Series == "" {
		return fmt.Sprintf("metric %s has no forecast yet (source not read successfully)", e.Metric)
	}
	return fmt.Sprintf("metric %s series %s is stale: last sample %s old, limit %s",
		e.Metric, e.Series, e.Age.Truncate(time.Second), e.Limit)
}

// Store holds the latest snapshot of every rule. Reads are lock-free: the set
// of rules is an immutable map behind an atomic pointer, replaced on every
// publish (copy-on-write; writers are serialized by a mutex).
type Store struct {
	now   func() time.Time
	mu    sync.Mutex // serializes writers
	rules atomic.Pointer[map[string]*Snapshot]
}

// NewStore returns an empty Store; now is the clock staleness is judged by
// (time.Now when nil).
func NewStore(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{now: now}
	empty := map[string]*Snapshot{}
	s.rules.Store(&empty)
	return s
}

// Publish replaces the snapshot of the rule stored under snap.Info.StoreKey().
func (s *Store) Publish(snap *Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.rules.Load()
	next := make(map[string]*Snapshot, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[snap.Info.StoreKey()] = snap
	s.rules.Store(&next)
}

// Retain removes every rule whose store key is not in keep.
func (s *Store) Retain(keep map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.rules.Load()
	next := make(map[string]*Snapshot, len(keep))
	for k, v := range old {
		if keep[k] {
			next[k] = v
		}
	}
	s.rules.Store(&next)
}

// Rules returns the descriptions of all served rules, sorted by metric.
func (s *Store) Rules() []RuleInfo {
	m := *s.rules.Load()
	out := make([]RuleInfo, 0, len(m))
	for _, snap := range m {
		out = append(out, snap.Info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Metric < out[j].Metric })
	return out
}

// Snapshot returns the current snapshot of the rule stored under key (its
// metric, or NamespacesKey(metric) for a namespaces rule), or nil.
func (s *Store) Snapshot(key string) *Snapshot {
	return (*s.rules.Load())[key]
}

// Ready reports whether every rule completed a cycle (and at least one rule exists
// when requireRules is set).
func (s *Store) Ready() bool {
	m := *s.rules.Load()
	for _, snap := range m {
		if !snap.Ready {
			return false
		}
	}
	return true
}

// Query is a read of one metric in one namespace.
type Query struct {
	// Metric is the metric name.
	Metric string
	// API is the API the request came through; a rule served on another API is unknown.
	API API
	// Resource is the requested object kind (object and pods APIs).
	Resource schema.GroupResource
	// Namespace is the request's namespace. Only entries of this namespace
	// are read, unless the rule is cluster-wide (RuleInfo.ClusterWide).
	Namespace string
	// Matchers filter entries by their labels (all must match).
	Matchers []*labels.Matcher
	// Objects, when not nil, keeps only entries whose Object is in the set.
	Objects map[string]bool
}

// StoreKey is the store key of the rule q reads (RuleInfo.StoreKey).
func (q Query) StoreKey() string {
	return RuleInfo{Metric: q.Metric, API: q.API, Resource: q.Resource}.StoreKey()
}

// Lookup returns the entries of q.Metric in q.Namespace that match q.Matchers
// and q.Objects. It fails with ErrUnknownMetric when no rule serves the metric
// on q.API (and q.Resource), and with a *StaleError when the rule has not
// served yet or a matching entry is older than the rule's staleness limit.
// An empty result with nil error means the metric exists but no series matched.
func (s *Store) Lookup(q Query) ([]*Entry, *RuleInfo, error) {
	snap := (*s.rules.Load())[q.StoreKey()]
	if snap == nil || snap.Info.API != q.API || (q.API != APIExternal && !sameResource(snap.Info.Resource, q.Resource)) {
		return nil, nil, fmt.Errorf("%w %q on the %s API", ErrUnknownMetric, q.Metric, q.API)
	}
	if !snap.Ready {
		return nil, &snap.Info, &StaleError{Metric: q.Metric}
	}
	now := s.now()
	var out []*Entry
	bucket := q.Namespace
	if snap.Info.ClusterWide {
		bucket = ClusterWideKey
	}
	for _, e := range snap.candidates(q, bucket) {
		if !snap.Info.ClusterWide && e.Namespace != q.Namespace { // defence in depth: the index is per namespace
			continue
		}
		if q.Objects != nil && !q.Objects[e.Object] {
			continue
		}
		if !matchesAll(q.Matchers, e.Labels) {
			continue
		}
		if age := now.Sub(e.Time()); snap.Info.StaleAfter > 0 && age > snap.Info.StaleAfter {
			return nil, &snap.Info, &StaleError{Metric: q.Metric, Series: e.Key, Age: age, Limit: snap.Info.StaleAfter}
		}
		out = append(out, e)
	}
	return out, &snap.Info, nil
}

// Index builds the snapshot's label index. The loop calls it before
// publishing; a snapshot without an index is scanned in full.
func (s *Snapshot) Index() {
	s.byLabel = make(map[string]map[string]map[string][]*Entry, len(s.ByNamespace))
	for ns, es := range s.ByNamespace {
		idx := map[string]map[string][]*Entry{}
		for _, e := range es {
			e.Labels.Range(func(l labels.Label) {
				byValue := idx[l.Name]
				if byValue == nil {
					byValue = map[string][]*Entry{}
					idx[l.Name] = byValue
				}
				byValue[l.Value] = append(byValue[l.Value], e)
			})
		}
		s.byLabel[ns] = idx
	}
}

// candidates returns the entries of bucket (the namespace, or
// ClusterWideKey) that can match q: those carrying the value of q's most
// selective equality matcher, or all.
func (s *Snapshot) candidates(q Query, bucket string) []*Entry {
	all := s.ByNamespace[bucket]
	idx := s.byLabel[bucket]
	if idx == nil {
		return all
	}
	best := all
	for _, m := range q.Matchers {
		if m.Type != labels.MatchEqual || m.Value == "" {
			continue
		}
		if c := idx[m.Name][m.Value]; len(c) < len(best) {
			best = c
		}
	}
	return best
}

// sameResource compares group resources, accepting the core group spelled
// empty and a resource given without its group when the rule's group is empty.
func sameResource(rule, req schema.GroupResource) bool {
	return rule.Resource == req.Resource && (rule.Group == req.Group || (rule.Group == "core" && req.Group == "") || (rule.Group == "" && req.Group == "core"))
}

func matchesAll(ms []*labels.Matcher, ls labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}
