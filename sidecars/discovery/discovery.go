// Package discovery turns Kubernetes EndpointSlices (discovery.k8s.io/v1), watched with
// client-go informers, into the endpoints of the policy services that use kubernetes
// discovery. Only the namespaces of those services are watched.
package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Target is one policy service whose endpoints come from EndpointSlices.
type Target struct {
	// Cluster is the Envoy cluster name ("name.namespace").
	Cluster string
	// Namespace and Service name the Kubernetes Service.
	Namespace, Service string
	// PortName selects the EndpointSlice port by name; when empty the slice's only port is
	// used.
	PortName string
}

// Targets lists the kubernetes-discovered services of a policy.
func Targets(p *policy.Policy) []Target {
	var out []Target
	for _, s := range p.Spec.Services {
		if s.Discovery == policy.DiscoveryKubernetes {
			name := s.Name
			if s.KubernetesService != "" {
				name = s.KubernetesService
			}
			out = append(out, Target{Cluster: s.ClusterName(), Namespace: s.Namespace, Service: name, PortName: s.PortName})
		}
	}
	return out
}

// Endpoints computes a service's endpoints from its EndpointSlices: ready endpoints (a
// missing ready condition counts as ready), or, when none is ready, the serving ones that
// are terminating (as kube-proxy does), on the port named portName (or the slice's only
// port). Addresses are deduplicated and sorted, so the result is stable.
func Endpoints(slicesOfService []*discoveryv1.EndpointSlice, portName string) []policy.Endpoint {
	var ready, terminating []policy.Endpoint
	seen := map[string]bool{}
	for _, sl := range slicesOfService {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		port, ok := slicePort(sl, portName)
		if !ok {
			continue
		}
		for _, ep := range sl.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			e := policy.Endpoint{Address: ep.Addresses[0], Port: port, Weight: 1}
			if ep.Zone != nil {
				e.Zone = *ep.Zone
			}
			key := fmt.Sprintf("%s|%d", e.Address, e.Port)
			if seen[key] {
				continue
			}
			c := ep.Conditions
			switch {
			case c.Ready == nil || *c.Ready:
				ready = append(ready, e)
				seen[key] = true
			case c.Serving != nil && *c.Serving && c.Terminating != nil && *c.Terminating:
				terminating = append(terminating, e)
			}
		}
	}
	out := ready
	if len(out) == 0 {
		out = terminating
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Address != out[j].Address {
			return out[i].Address < out[j].Address
		}
		return out[i].Port < out[j].Port
	})
	return slices.CompactFunc(out, func(a, b policy.Endpoint) bool { return a.Address == b.Address && a.Port == b.Port })
}

func slicePort(sl *discoveryv1.EndpointSlice, name string) (uint32, bool) {
	if name == "" && len(sl.Ports) == 1 && sl.Ports[0].Port != nil {
		return uint32(*sl.Ports[0].Port), true
	}
	for _, p := range sl.Ports {
		if p.Name != nil && *p.Name == name && p.Port != nil && name != "" {
			return uint32(*p.Port), true
		}
	}
	return 0, false
}

// Sink receives a service's endpoints whenever they change.
type Sink func(ctx context.Context, cluster string, endpoints []policy.Endpoint) error

// Watcher watches the EndpointSlices of its targets and feeds changes to a Sink.
type Watcher struct {
	client kubernetes.Interface
	sink   Sink
	log    *slog.Logger
	resync time.Duration

	mu         sync.Mutex
	targets    map[string][]Target // by namespace
	namespaces map[string]*nsWatch
	last       map[string][]policy.Endpoint // by cluster
}

type nsWatch struct {
	cancel context.CancelFunc
	lister listersv1.EndpointSliceLister
	synced cache.InformerSynced
}

// NewWatcher returns a Watcher; call SetTargets, then Run.
func NewWatcher(client kubernetes.Interface, sink Sink, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{client: client, sink: sink, log: log, resync: 10 * time.Minute,
		targets: map[string][]Target{}, namespaces: map[string]*nsWatch{}, last: map[string][]policy.Endpoint{}}
}

// SetTargets replaces the watched services (after a policy reload): informers start for new
// namespaces and stop for namespaces no longer used. ctx bounds the informers.
func (w *Watcher) SetTargets(ctx context.Context, targets []Target) {
	w.mu.Lock()
	byNS := map[string][]Target{}
	for _, t := range targets {
		byNS[t.Namespace] = append(byNS[t.Namespace], t)
	}
	w.targets = byNS
	var started []*nsWatch
	for ns := range byNS {
		if _, ok := w.namespaces[ns]; !ok {
			nw := w.watchNamespace(ctx, ns)
			w.namespaces[ns] = nw
			started = append(started, nw)
		}
	}
	for ns, nw := range w.namespaces {
		if _, ok := byNS[ns]; !ok {
			nw.cancel()
			delete(w.namespaces, ns)
			w.log.Info("stopped watching EndpointSlices", "namespace", ns)
		}
	}
	w.mu.Unlock()
	for _, nw := range started {
		cache.WaitForCacheSync(ctx.Done(), nw.synced)
	}
	for ns := range byNS {
		w.resyncNamespace(ctx, ns)
	}
}

func (w *Watcher) watchNamespace(ctx context.Context, ns string) *nsWatch {
	nctx, cancel := context.WithCancel(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(w.client, w.resync, informers.WithNamespace(ns))
	inf := factory.Discovery().V1().EndpointSlices()
	handler := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if sl, ok := obj.(*discoveryv1.EndpointSlice); ok {
			w.resyncService(nctx, sl.Namespace, sl.Labels[discoveryv1.LabelServiceName])
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handler,
		UpdateFunc: func(_, obj any) { handler(obj) },
		DeleteFunc: handler,
	})
	nw := &nsWatch{cancel: cancel, lister: inf.Lister(), synced: inf.Informer().HasSynced}
	factory.Start(nctx.Done())
	w.log.Info("watching EndpointSlices", "namespace", ns)
	return nw
}

func (w *Watcher) resyncNamespace(ctx context.Context, ns string) {
	w.mu.Lock()
	targets := slices.Clone(w.targets[ns])
	w.mu.Unlock()
	for _, t := range targets {
		w.resyncService(ctx, ns, t.Service)
	}
}

// resyncService recomputes every target of service ns/name and reports changes.
func (w *Watcher) resyncService(ctx context.Context, ns, name string) {
	if name == "" {
		return
	}
	w.mu.Lock()
	nw := w.namespaces[ns]
	var targets []Target
	for _, t := range w.targets[ns] {
		if t.Service == name {
			targets = append(targets, t)
		}
	}
	w.mu.Unlock()
	if nw == nil || len(targets) == 0 || !nw.synced() {
		return
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})
	list, err := nw.lister.EndpointSlices(ns).List(sel)
	if err != nil {
		w.log.Error("list EndpointSlices", "namespace", ns, "service", name, "error", err)
		return
	}
	for _, t := range targets {
		eps := Endpoints(list, t.PortName)
		w.mu.Lock()
		prev, known := w.last[t.Cluster]
		same := known && slices.Equal(prev, eps)
		w.mu.Unlock()
		if same {
			continue
		}
		addrs := make([]string, len(eps))
		for i, e := range eps {
			addrs[i] = fmt.Sprintf("%s:%d", e.Address, e.Port)
		}
		w.log.Info("endpoints changed", "cluster", t.Cluster, "count", len(eps), "endpoints", strings.Join(addrs, ","))
		if err := w.sink(ctx, t.Cluster, eps); err != nil {
			w.log.Error("could not serve discovered endpoints", "cluster", t.Cluster, "error", err)
			continue // not recorded: the next event retries
		}
		w.mu.Lock()
		w.last[t.Cluster] = eps
		w.mu.Unlock()
	}
}

// Endpoints returns the last endpoints reported for a cluster.
func (w *Watcher) Endpoints(cluster string) []policy.Endpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.last[cluster])
}

// Stop stops every informer.
func (w *Watcher) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ns, nw := range w.namespaces {
		nw.cancel()
		delete(w.namespaces, ns)
	}
}
