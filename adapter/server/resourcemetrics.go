package server

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/metrics/pkg/apis/metrics"
	metricsv1 "k8s.io/metrics/pkg/apis/metrics/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"

	"github.com/foresight-dev/foresight/adapter/provider"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
)

// ResourceMetrics is what the resource metrics API (metrics.k8s.io v1 and v1beta1) serves.
type ResourceMetrics struct {
	// Source holds the latest CPU and memory usage.
	Source interface {
		Snapshot() (*resourcemetrics.Snapshot, error)
	}
	// Objects lists pods and nodes by label selector. When nil, requests with
	// a label selector are refused: pods' labels are not in their series.
	Objects provider.ObjectLister
}

// resourceMetricsVersions are the versions of metrics.k8s.io the adapter serves, the
// preferred first: v1, which kubectl top asks when the API lists it, and v1beta1, which
// the HPA controller asks.
var resourceMetricsVersions = []schema.GroupVersion{metricsv1.SchemeGroupVersion, metricsv1beta1.SchemeGroupVersion}

func init() {
	utilruntime.Must(metrics.AddToScheme(apiserver.Scheme))
	utilruntime.Must(metricsv1.AddToScheme(apiserver.Scheme))
	utilruntime.Must(metricsv1beta1.AddToScheme(apiserver.Scheme))
	utilruntime.Must(apiserver.Scheme.SetVersionPriority(resourceMetricsVersions...))
}

var (
	podsResource  = schema.GroupResource{Resource: "pods"}
	nodesResource = schema.GroupResource{Resource: "nodes"}
)

// installResourceMetrics adds metrics.k8s.io pods and nodes, in every version of
// resourceMetricsVersions, to s.
func installResourceMetrics(s *genericapiserver.GenericAPIServer, rm *ResourceMetrics) error {
	info := genericapiserver.NewDefaultAPIGroupInfo(metrics.GroupName, apiserver.Scheme, metav1.ParameterCodec, apiserver.Codecs)
	storage := map[string]rest.Storage{
		"pods":  &podMetricsStorage{rm: rm},
		"nodes": &nodeMetricsStorage{rm: rm},
	}
	for _, gv := range resourceMetricsVersions {
		info.VersionedResourcesStorageMap[gv.Version] = storage
	}
	if err := s.InstallAPIGroup(&info); err != nil {
		return fmt.Errorf("install %s: %w", metrics.GroupName, err)
	}
	return nil
}

// snapshot returns the latest usage, or 503 when there is none fresh.
func (rm *ResourceMetrics) snapshot() (*resourcemetrics.Snapshot, error) {
	s, err := rm.Source.Snapshot()
	if err != nil {
		return nil, errors.NewServiceUnavailable(err.Error())
	}
	return s, nil
}

// selected returns the names of the objects in namespace matching opts'
// label selector, or nil when the selector selects everything.
func (rm *ResourceMetrics) selected(ctx context.Context, namespace string, opts *metainternalversion.ListOptions, gr schema.GroupResource) (map[string]bool, error) {
	if opts == nil || opts.LabelSelector == nil || opts.LabelSelector.Empty() {
		return nil, nil
	}
	if rm.Objects == nil {
		return nil, errors.NewBadRequest("label selectors on resource metrics need the cluster's " + gr.Resource + " (the adapter runs without --lister-kubeconfig or in-cluster access)")
	}
	names, err := rm.Objects.ListObjectNames(ctx, namespace, opts.LabelSelector, gr)
	if err != nil {
		return nil, errors.NewInternalError(fmt.Errorf("list %s by label selector: %w", gr.Resource, err))
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

func fieldsMatch(opts *metainternalversion.ListOptions, name, namespace string) bool {
	if opts == nil || opts.FieldSelector == nil || opts.FieldSelector.Empty() {
		return true
	}
	set := fields.Set{"metadata.name": name}
	if namespace != "" {
		set["metadata.namespace"] = namespace
	}
	return opts.FieldSelector.Matches(set)
}

func cpuQuantity(cores float64) resource.Quantity {
	return *resource.NewScaledQuantity(int64(cores*1e9+0.5), resource.Nano)
}

func memoryQuantity(bytes float64) resource.Quantity {
	return *resource.NewQuantity(int64(bytes+0.5), resource.BinarySI)
}

func usageList(u resourcemetrics.Usage) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: cpuQuantity(u.CPU), corev1.ResourceMemory: memoryQuantity(u.Memory)}
}

// podMetricsStorage serves PodMetrics, read-only, namespaced.
type podMetricsStorage struct {
	rm *ResourceMetrics
}

var (
	_ rest.Storage              = (*podMetricsStorage)(nil)
	_ rest.Getter               = (*podMetricsStorage)(nil)
	_ rest.Lister               = (*podMetricsStorage)(nil)
	_ rest.Scoper               = (*podMetricsStorage)(nil)
	_ rest.KindProvider         = (*podMetricsStorage)(nil)
	_ rest.SingularNameProvider = (*podMetricsStorage)(nil)
)

func (*podMetricsStorage) New() runtime.Object     { return &metrics.PodMetrics{} }
func (*podMetricsStorage) Destroy()                {}
func (*podMetricsStorage) NewList() runtime.Object { return &metrics.PodMetricsList{} }
func (*podMetricsStorage) Kind() string            { return "PodMetrics" }
func (*podMetricsStorage) NamespaceScoped() bool   { return true }

// GetSingularName is empty, as metrics-server's: kubectl then names the resource by its kind
// too (`kubectl get podmetrics`).
func (*podMetricsStorage) GetSingularName() string { return "" }
func (*podMetricsStorage) ConvertToTable(_ context.Context, obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	return usageTable(obj, opts)
}

func podMetrics(p *resourcemetrics.Pod, window metav1.Duration) metrics.PodMetrics {
	m := metrics.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, CreationTimestamp: metav1.NewTime(p.Timestamp)},
		Timestamp:  metav1.NewTime(p.Timestamp), Window: window,
		Containers: make([]metrics.ContainerMetrics, len(p.Containers)),
	}
	for i, c := range p.Containers {
		m.Containers[i] = metrics.ContainerMetrics{Name: c.Name, Usage: usageList(c.Usage)}
	}
	return m
}

func (s *podMetricsStorage) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	ns := genericapirequest.NamespaceValue(ctx)
	snap, err := s.rm.snapshot()
	if err != nil {
		return nil, err
	}
	p := snap.Pods[ns][name]
	if p == nil {
		return nil, errors.NewNotFound(metrics.Resource("pods"), name)
	}
	m := podMetrics(p, metav1.Duration{Duration: snap.Window})
	return &m, nil
}

func (s *podMetricsStorage) List(ctx context.Context, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	ns := genericapirequest.NamespaceValue(ctx)
	snap, err := s.rm.snapshot()
	if err != nil {
		return nil, err
	}
	namespaces := []string{ns}
	if ns == "" {
		for n := range snap.Pods {
			namespaces = append(namespaces, n)
		}
		slices.Sort(namespaces)
	}
	out := &metrics.PodMetricsList{}
	window := metav1.Duration{Duration: snap.Window}
	for _, n := range namespaces {
		pods := snap.Pods[n]
		if len(pods) == 0 {
			continue
		}
		keep, err := s.rm.selected(ctx, n, opts, podsResource)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(pods))
		for name := range pods {
			if (keep == nil || keep[name]) && fieldsMatch(opts, name, n) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		for _, name := range names {
			out.Items = append(out.Items, podMetrics(pods[name], window))
		}
	}
	return out, nil
}

// nodeMetricsStorage serves NodeMetrics, read-only, cluster-scoped.
type nodeMetricsStorage struct {
	rm *ResourceMetrics
}

var (
	_ rest.Storage              = (*nodeMetricsStorage)(nil)
	_ rest.Getter               = (*nodeMetricsStorage)(nil)
	_ rest.Lister               = (*nodeMetricsStorage)(nil)
	_ rest.Scoper               = (*nodeMetricsStorage)(nil)
	_ rest.KindProvider         = (*nodeMetricsStorage)(nil)
	_ rest.SingularNameProvider = (*nodeMetricsStorage)(nil)
)

func (*nodeMetricsStorage) New() runtime.Object     { return &metrics.NodeMetrics{} }
func (*nodeMetricsStorage) Destroy()                {}
func (*nodeMetricsStorage) NewList() runtime.Object { return &metrics.NodeMetricsList{} }
func (*nodeMetricsStorage) Kind() string            { return "NodeMetrics" }
func (*nodeMetricsStorage) NamespaceScoped() bool   { return false }

// GetSingularName is empty, as metrics-server's (`kubectl get nodemetrics`).
func (*nodeMetricsStorage) GetSingularName() string { return "" }
func (*nodeMetricsStorage) ConvertToTable(_ context.Context, obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	return usageTable(obj, opts)
}

func nodeMetrics(n *resourcemetrics.Node, window metav1.Duration) metrics.NodeMetrics {
	return metrics.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, CreationTimestamp: metav1.NewTime(n.Timestamp)},
		Timestamp:  metav1.NewTime(n.Timestamp), Window: window, Usage: usageList(n.Usage),
	}
}

func (s *nodeMetricsStorage) Get(_ context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	snap, err := s.rm.snapshot()
	if err != nil {
		return nil, err
	}
	n := snap.Nodes[name]
	if n == nil {
		return nil, errors.NewNotFound(metrics.Resource("nodes"), name)
	}
	m := nodeMetrics(n, metav1.Duration{Duration: snap.Window})
	return &m, nil
}

func (s *nodeMetricsStorage) List(ctx context.Context, opts *metainternalversion.ListOptions) (runtime.Object, error) {
	snap, err := s.rm.snapshot()
	if err != nil {
		return nil, err
	}
	keep, err := s.rm.selected(ctx, "", opts, nodesResource)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(snap.Nodes))
	for name := range snap.Nodes {
		if (keep == nil || keep[name]) && fieldsMatch(opts, name, "") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := &metrics.NodeMetricsList{Items: make([]metrics.NodeMetrics, 0, len(names))}
	window := metav1.Duration{Duration: snap.Window}
	for _, name := range names {
		out.Items = append(out.Items, nodeMetrics(snap.Nodes[name], window))
	}
	return out, nil
}
