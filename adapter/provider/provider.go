// Package provider serves Foresight's forecasts through the Kubernetes metrics
// APIs: it implements sigs.k8s.io/custom-metrics-apiserver's
// ExternalMetricsProvider and CustomMetricsProvider on top of the in-memory
// serving.Store. Requests never query the metric source: they filter the few
// series of the request's namespace in memory.
package provider

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/metrics/pkg/apis/custom_metrics"
	"k8s.io/metrics/pkg/apis/external_metrics"
	cmprovider "sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/foresight-dev/foresight/adapter/config/promadapter"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/source"
)

// ObjectLister lists the names of the objects of a kind in a namespace that
// match a label selector. It answers custom-metrics requests by selector (the
// HPA's Pods metrics). Implementations read the Kubernetes API or a cache of it.
type ObjectLister interface {
	ListObjectNames(ctx context.Context, namespace string, selector k8slabels.Selector, resource schema.GroupResource) ([]string, error)
}

// Mapper is implemented by an ObjectLister that also reads the cluster's
// discovery (server.ClusterObjects): the Provider then resolves what its
// built-in table of kinds does not know through it, as prometheus-adapter
// does, such as the kinds of custom resources.
type Mapper interface {
	RESTMapper() meta.RESTMapper
}

// Provider answers metrics API requests from a serving.Store.
type Provider struct {
	store    *serving.Store
	objects  ObjectLister
	matchers *source.MatcherCache

	mapper meta.RESTMapper // nil without a cluster
	// mapperPausedUntil (Unix nanoseconds) stops asking the mapper after a
	// failure; mapperReset is when its discovery was last read again.
	mapperPausedUntil, mapperReset atomic.Int64
	kinds                          sync.Map // schema.GroupResource -> [2]string{kind, apiVersion}
	kindsN                         atomic.Int32
}

// matcherCacheBytes bounds the matchers remembered for the selectors of
// requests: one entry per (namespace, selector) of the HPAs using the
// adapter, about 0.5 KB for an equality selector (thousands of HPAs fit).
// What a client fills it with stays live, and the garbage collector lets
// the heap grow to twice what is live (GOGC=100): each byte here costs up
// to two more at the peak of a flood of requests (BENCHMARKS.md, hostile
// clients), so the bound is kept to what the HPAs of a large cluster use.
const matcherCacheBytes = 4 << 20

// MatcherCacheMaxBytes is the bound of the selector cache of a Provider.
const MatcherCacheMaxBytes = matcherCacheBytes

var (
	_ cmprovider.ExternalMetricsProvider = (*Provider)(nil)
	_ cmprovider.CustomMetricsProvider   = (*Provider)(nil)
)

// New returns a Provider reading store. objects may be nil when no cluster is
// reachable; object selectors are then matched against the series' labels.
// When objects is also a Mapper, its RESTMapper resolves kinds.
func New(store *serving.Store, objects ObjectLister) *Provider {
	p := &Provider{store: store, objects: objects, matchers: source.NewMatcherCache(matcherCacheBytes)}
	if m, ok := objects.(Mapper); ok {
		p.mapper = m.RESTMapper()
		p.mapperReset.Store(time.Now().UnixNano()) // its discovery is read at its first use
	}
	return p
}

// MatcherCacheBytes returns the estimated size of the matchers remembered
// for request selectors, at most MatcherCacheMaxBytes.
func (p *Provider) MatcherCacheBytes() int64 { return p.matchers.Bytes() }

var externalResource = schema.GroupResource{Group: external_metrics.GroupName, Resource: "externalmetrics"}

// GetExternalMetric returns the served values of the metric's series in
// namespace that match metricSelector.
func (p *Provider) GetExternalMetric(_ context.Context, namespace string, metricSelector k8slabels.Selector, info cmprovider.ExternalMetricInfo) (*external_metrics.ExternalMetricValueList, error) {
	entries, err := p.lookup(serving.Query{Metric: info.Metric, API: serving.APIExternal, Namespace: namespace}, metricSelector, externalResource)
	if err != nil {
		return nil, err
	}
	return &external_metrics.ExternalMetricValueList{Items: externalValues(info.Metric, entries)}, nil
}

// listExternal is GetExternalMetric's lookup for a label selector in its
// text form, as a request's labelSelector parameter carries it. Each
// distinct selector is parsed and translated once.
func (p *Provider) listExternal(namespace, metric, selector string) ([]*serving.Entry, error) {
	q := serving.Query{Metric: metric, API: serving.APIExternal, Namespace: namespace}
	snap := p.store.Snapshot(metric)
	if snap == nil || namespace == "" {
		return nil, cmprovider.NewMetricNotFoundError(externalResource, metric)
	}
	var ms []*labels.Matcher
	var err error
	if snap.Info.ClusterWide {
		// The operator allowed this rule's series to every namespace
		// (config.Policy): the request's namespace selects nothing.
		ms, err = p.matchers.ParseClusterSelectorMatchers(selector)
	} else {
		ms, err = p.matchers.ParseSelectorMatchers(snap.Info.NamespaceLabel, namespace, selector)
	}
	var syntax *source.SelectorSyntaxError
	switch {
	case errors.As(err, &syntax):
		// As the library's handler answers a selector it cannot parse.
		return nil, apierrors.NewBadRequest(syntax.Error())
	case err != nil:
		return nil, badSelector(err)
	}
	q.Matchers = ms
	return p.read(q, externalResource)
}

func externalValues(metric string, entries []*serving.Entry) []external_metrics.ExternalMetricValue {
	out := make([]external_metrics.ExternalMetricValue, 0, len(entries))
	for _, e := range entries {
		out = append(out, external_metrics.ExternalMetricValue{
			MetricName:   metric,
			MetricLabels: e.Labels.Map(),
			Timestamp:    metav1.NewTime(e.Time()),
			Value:        milliQuantity(e.Forecast.Value),
		})
	}
	return out
}

// ListAllExternalMetrics lists the metrics of the external rules.
func (p *Provider) ListAllExternalMetrics() []cmprovider.ExternalMetricInfo {
	var out []cmprovider.ExternalMetricInfo
	for _, r := range p.store.Rules() {
		if r.API == serving.APIExternal {
			out = append(out, cmprovider.ExternalMetricInfo{Metric: r.Metric})
		}
	}
	return out
}

// ListAllMetrics lists the metrics of the object and pods rules.
func (p *Provider) ListAllMetrics() []cmprovider.CustomMetricInfo {
	var out []cmprovider.CustomMetricInfo
	for _, r := range p.store.Rules() {
		if r.API == serving.APIObject || r.API == serving.APIPods {
			// Namespaces are root-scoped: their metrics are read at
			// /namespaces/{namespace}/metrics/{metric}, authorized in that namespace.
			namespaced := r.StoreKey() != serving.NamespacesKey(r.Metric)
			out = append(out, cmprovider.CustomMetricInfo{GroupResource: r.Resource, Namespaced: namespaced, Metric: r.Metric})
		}
	}
	return out
}

// GetMetricByName returns the served value of the metric for one object.
func (p *Provider) GetMetricByName(_ context.Context, name types.NamespacedName, info cmprovider.CustomMetricInfo, metricSelector k8slabels.Selector) (*custom_metrics.MetricValue, error) {
	if info.GroupResource == serving.NamespacesResource && name.Namespace == "" {
		// /namespaces/{namespace}/metrics/{metric}, the one path to a
		// namespace's metric: the library names the namespace as the
		// object, after the request was authorized in that namespace.
		name.Namespace = name.Name
	}
	q, err := p.customQuery(name.Namespace, &info)
	if err != nil {
		return nil, err
	}
	q.Objects = map[string]bool{name.Name: true}
	entries, err := p.lookup(q, metricSelector, info.GroupResource)
	if err != nil {
		return nil, err
	}
	if err := p.selectable(q, metricSelector); err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, cmprovider.NewMetricNotFoundForError(info.GroupResource, info.Metric, name.Name)
	}
	// Several series of one object (e.g. per container) are served as one
	// value, their sum, as in a list (customValues).
	vals := p.customValues(entries, info, metricSelector)
	return &vals[0], nil
}

// GetMetricBySelector returns the served values of the metric for the objects
// in namespace matching selector.
func (p *Provider) GetMetricBySelector(ctx context.Context, namespace string, selector k8slabels.Selector, info cmprovider.CustomMetricInfo, metricSelector k8slabels.Selector) (*custom_metrics.MetricValueList, error) {
	q, err := p.customQuery(namespace, &info)
	if err != nil {
		return nil, err
	}
	var extra []*labels.Matcher
	if selector != nil && !selector.Empty() {
		if p.objects != nil {
			names, err := p.objects.ListObjectNames(ctx, namespace, selector, info.GroupResource)
			if err != nil {
				return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("list %s in %s: %v", info.GroupResource, namespace, err))
			}
			q.Objects = make(map[string]bool, len(names))
			for _, n := range names {
				q.Objects[n] = true
			}
		} else {
			// No cluster to list objects: match the selector against the series' labels.
			snap := p.store.Snapshot(q.StoreKey())
			if snap != nil {
				extra, err = source.SelectorMatchers(snap.Info.NamespaceLabel, namespace, selector)
				if err != nil {
					return nil, badSelector(err)
				}
			}
		}
	}
	q.Matchers = extra
	entries, err := p.lookup(q, metricSelector, info.GroupResource)
	if err != nil {
		return nil, err
	}
	if err := p.selectable(q, metricSelector); err != nil {
		return nil, err
	}
	return &custom_metrics.MetricValueList{Items: p.customValues(entries, info, metricSelector)}, nil
}

// selectable refuses a metric label selector (an HPA's metric.selector) that
// names a label no series of the metric in the request's namespace carries:
// the rule's query aggregates it away. prometheus-adapter applied the
// selector inside the query, before its aggregation; Foresight selects among
// the series the query keeps, which would answer no value (or, for != and
// notin, the total over every series) where prometheus-adapter answered
// the selected series' sum. A namespace without series says nothing.
func (p *Provider) selectable(q serving.Query, metricSelector k8slabels.Selector) error {
	if metricSelector == nil || metricSelector.Empty() {
		return nil
	}
	reqs, _ := metricSelector.Requirements()
	snap := p.store.Snapshot(q.StoreKey())
	if snap == nil || len(reqs) == 0 {
		return nil
	}
	entries := snap.ByNamespace[q.Namespace]
	for _, r := range reqs {
		name := r.Key()
		if len(entries) == 0 || name == snap.Info.NamespaceLabel || slices.ContainsFunc(entries, func(e *serving.Entry) bool { return e.Labels.Has(name) }) {
			continue
		}
		return apierrors.NewBadRequest(fmt.Sprintf("metricLabelSelector: the series of metric %s in namespace %s carry no label %q: "+
			"the rule's query aggregates it away, and Foresight selects among the series the query keeps, "+
			"where prometheus-adapter selected inside the query (docs/migration.md)", q.Metric, q.Namespace, name))
	}
	return nil
}

// customQuery checks the request's scope and returns its store query. It
// resolves the resource the request names (resolve) and sets
// info.GroupResource to the one the rule serves.
func (p *Provider) customQuery(namespace string, info *cmprovider.CustomMetricInfo) (serving.Query, error) {
	snap, gr := p.resolve(info.Metric, info.GroupResource)
	if snap == nil || namespace == "" {
		return serving.Query{}, cmprovider.NewMetricNotFoundError(info.GroupResource, info.Metric)
	}
	info.GroupResource = gr
	return serving.Query{Metric: info.Metric, API: snap.Info.API, Resource: gr, Namespace: namespace}, nil
}

// customSnapshot returns the snapshot of the pods or object rule of metric
// for gr exactly, or nil.
func (p *Provider) customSnapshot(metric string, gr schema.GroupResource) *serving.Snapshot {
	api := serving.APIPods
	if gr != (schema.GroupResource{Resource: "pods"}) {
		api = serving.APIObject
	}
	snap := p.store.Snapshot(serving.Query{Metric: metric, API: api, Resource: gr}.StoreKey())
	if snap == nil || snap.Info.API != api {
		return nil
	}
	return snap
}

// resolve returns the rule of metric for the resource a request names, and
// that resource as the rule serves it, as prometheus-adapter resolves it
// with its RESTMapper.ResourceFor: in any case, singular or plural (a
// built-in kind's singular, or the English plural of another's), the group
// filled in when the request gives none and one is served (deployments for
// deployments.apps; the built-in kind's group first), or as the cluster's
// discovery resolves it. It returns nil when no rule serves metric for it.
func (p *Provider) resolve(metric string, gr schema.GroupResource) (*serving.Snapshot, schema.GroupResource) {
	if snap := p.customSnapshot(metric, gr); snap != nil {
		return snap, gr // as the HPA names it: the fast path
	}
	lower := schema.GroupResource{Group: strings.ToLower(gr.Group), Resource: strings.ToLower(gr.Resource)}
	if lower.Group == "core" {
		lower.Group = ""
	}
	names := []string{lower.Resource}
	if guess, _ := meta.UnsafeGuessKindToResource(schema.GroupVersionKind{Kind: lower.Resource}); guess.Resource != lower.Resource {
		names = append(names, guess.Resource)
	}
	var candidates []schema.GroupResource
	for _, b := range promadapter.BuiltinResources(lower.Resource) {
		if lower.Group == "" || lower.Group == b.Group {
			candidates = append(candidates, b)
		}
	}
	for _, n := range names {
		candidates = append(candidates, schema.GroupResource{Group: lower.Group, Resource: n})
	}
	for _, c := range candidates {
		if snap := p.customSnapshot(metric, c); snap != nil {
			return snap, c
		}
	}
	if lower.Group == "" {
		// The one group in which a rule serves metric for the resource.
		var found *serving.Snapshot
		for _, r := range p.store.Rules() {
			if r.Metric != metric || r.API != serving.APIObject || !slices.Contains(names, r.Resource.Resource) {
				continue
			}
			if found != nil {
				found = nil
				break
			}
			found = p.customSnapshot(metric, r.Resource)
		}
		if found != nil {
			return found, found.Info.Resource
		}
	}
	var gvr schema.GroupVersionResource
	if err := p.mapped(func(m meta.RESTMapper) (err error) {
		gvr, err = m.ResourceFor(lower.WithVersion(""))
		return err
	}); err == nil {
		if snap := p.customSnapshot(metric, gvr.GroupResource()); snap != nil {
			return snap, gvr.GroupResource()
		}
	}
	return nil, gr
}

// lookup adds the metric selector's matchers (with the namespace enforced)
// to q and reads the store, mapping its errors to API errors.
func (p *Provider) lookup(q serving.Query, metricSelector k8slabels.Selector, gr schema.GroupResource) ([]*serving.Entry, error) {
	snap := p.store.Snapshot(q.StoreKey())
	if snap == nil {
		return nil, cmprovider.NewMetricNotFoundError(gr, q.Metric)
	}
	if q.Namespace == "" {
		return nil, cmprovider.NewMetricNotFoundError(gr, q.Metric)
	}
	var ms []*labels.Matcher
	var err error
	if snap.Info.ClusterWide {
		ms, err = p.matchers.ClusterSelectorMatchers(metricSelector)
	} else {
		ms, err = p.matchers.SelectorMatchers(snap.Info.NamespaceLabel, q.Namespace, metricSelector)
	}
	if err != nil {
		return nil, badSelector(err)
	}
	// The cached matchers are shared: copy before adding to them.
	q.Matchers = append(append(make([]*labels.Matcher, 0, len(q.Matchers)+len(ms)), q.Matchers...), ms...)
	return p.read(q, gr)
}

// read reads the store, mapping its errors to API errors.
func (p *Provider) read(q serving.Query, gr schema.GroupResource) ([]*serving.Entry, error) {
	entries, _, err := p.store.Lookup(q)
	var stale *serving.StaleError
	switch {
	case err == nil:
		return entries, nil
	case errors.Is(err, serving.ErrUnknownMetric):
		return nil, cmprovider.NewMetricNotFoundError(gr, q.Metric)
	case errors.As(err, &stale):
		return nil, apierrors.NewServiceUnavailable(stale.Error())
	default:
		return nil, apierrors.NewInternalError(err)
	}
}

// badSelector is the answer to a selector that cannot be served; a
// selector beyond the limits is answered with the limit's message, as the
// server's filter answers a selector text beyond them on the library's path.
func badSelector(err error) error {
	var limit *source.SelectorLimitError
	if errors.As(err, &limit) {
		return apierrors.NewBadRequest(limit.Error())
	}
	return apierrors.NewBadRequest(fmt.Sprintf("label selector: %v", err))
}

// customValues returns one value per object of entries, in the order the
// objects first appear: a MetricValueList holds one item per object (the
// HPA keys its values by object name). An object's several series (e.g.
// per container) are served as their sum, at the oldest of their sample
// times.
func (p *Provider) customValues(entries []*serving.Entry, info cmprovider.CustomMetricInfo, metricSelector k8slabels.Selector) []custom_metrics.MetricValue {
	var sel *metav1.LabelSelector
	if metricSelector != nil && !metricSelector.Empty() {
		if s, err := metav1.ParseToLabelSelector(metricSelector.String()); err == nil {
			sel = s
		}
	}
	kind, apiVersion := p.kindFor(info.GroupResource)
	// A Namespace is cluster-scoped: its reference names no namespace.
	namespaced := info.GroupResource != serving.NamespacesResource
	out := make([]custom_metrics.MetricValue, 0, len(entries))
	// The sum of each item's series, and oldest sample time; on the stack
	// for the few series of most requests.
	var small [16]objectSum
	sums := small[:0]
	var index map[string]int // object -> item, for more series than small holds
	if len(entries) > len(small) {
		index = make(map[string]int, len(entries))
	}
	for _, e := range entries {
		i := -1
		if index != nil {
			if j, ok := index[e.Object]; ok {
				i = j
			}
		} else {
			for j := range out {
				if out[j].DescribedObject.Name == e.Object {
					i = j
					break
				}
			}
		}
		if i >= 0 {
			sums[i].value += e.Forecast.Value
			sums[i].at = min(sums[i].at, e.Forecast.At)
			continue
		}
		if index != nil {
			index[e.Object] = len(out)
		}
		sums = append(sums, objectSum{value: e.Forecast.Value, at: e.Forecast.At})
		ref := custom_metrics.ObjectReference{Kind: kind, APIVersion: apiVersion, Name: e.Object}
		if namespaced {
			ref.Namespace = e.Namespace
		}
		out = append(out, custom_metrics.MetricValue{
			DescribedObject: ref,
			Metric:          custom_metrics.MetricIdentifier{Name: info.Metric, Selector: sel},
		})
	}
	for i := range out {
		out[i].Timestamp = metav1.NewTime(time.Unix(sums[i].at, 0))
		out[i].Value = milliQuantity(sums[i].value)
	}
	return out
}

// objectSum is the sum of an object's series and their oldest sample time
// (Unix seconds).
type objectSum struct {
	value float64
	at    int64
}

// kindFor names the kind and API version (group/version) of the objects of
// gr, as prometheus-adapter's RESTMapper.KindFor does: a built-in kind from
// the table the importer maps labels with, any other from the cluster's
// discovery (remembered), or neither without one: never an apiVersion
// without a version.
func (p *Provider) kindFor(gr schema.GroupResource) (kind, apiVersion string) {
	if k, ok := p.kinds.Load(gr); ok {
		k := k.([2]string)
		return k[0], k[1]
	}
	gvk, ok := promadapter.BuiltinKind(gr)
	if !ok {
		if err := p.mapped(func(m meta.RESTMapper) (err error) {
			gvk, err = m.KindFor(gr.WithVersion(""))
			return err
		}); err != nil || gvk.Version == "" || gvk.Kind == "" {
			return "", ""
		}
	}
	kind, apiVersion = gvk.Kind, gvk.GroupVersion().String()
	if p.kindsN.Add(1) <= maxKinds { // the resources of rules: a few
		p.kinds.Store(gr, [2]string{kind, apiVersion})
	}
	return kind, apiVersion
}

// maxKinds bounds the kinds remembered (the resources of the rules).
const maxKinds = 256

// mapperPause is how long the cluster's discovery is not asked again after
// it failed, and the least time between two readings of it for names it
// did not know.
const mapperPause = time.Minute

var errNoMapper = errors.New("no discovery of the cluster's resources")

// mapped calls f with the cluster's RESTMapper. A name it does not know
// makes it read the cluster's discovery again, at most once a minute (a
// resource created since, such as a custom resource, is then found); after
// a failure to read it, it is not asked for a minute. Requests cannot make
// the adapter read discovery more often than that.
func (p *Provider) mapped(f func(meta.RESTMapper) error) error {
	if p.mapper == nil {
		return errNoMapper
	}
	now := time.Now().UnixNano()
	if now < p.mapperPausedUntil.Load() {
		return errNoMapper
	}
	err := f(p.mapper)
	definite := func(err error) bool { return err == nil || meta.IsNoMatchError(err) || meta.IsAmbiguousError(err) }
	if !definite(err) {
		p.mapperPausedUntil.Store(now + int64(mapperPause))
		return err
	}
	r, ok := p.mapper.(meta.ResettableRESTMapper)
	last := p.mapperReset.Load()
	if err == nil || !meta.IsNoMatchError(err) || !ok || now-last < int64(mapperPause) || !p.mapperReset.CompareAndSwap(last, now) {
		return err
	}
	r.Reset()
	if err = f(p.mapper); !definite(err) {
		p.mapperPausedUntil.Store(now + int64(mapperPause))
	}
	return err
}

// milliQuantity converts a served value to a milli-quantity, the unit the HPA
// computes with. Values beyond the int64 range saturate.
func milliQuantity(v float64) resource.Quantity {
	const limit = math.MaxInt64 / 2
	m := math.Ceil(v * 1000)
	var milli int64
	switch {
	case math.IsNaN(m):
		milli = 0
	case m >= limit:
		milli = limit
	case m <= -limit:
		milli = -limit
	default:
		milli = int64(m)
	}
	return *resource.NewMilliQuantity(milli, resource.DecimalSI)
}
