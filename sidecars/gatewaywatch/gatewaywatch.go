// Package gatewaywatch feeds foresight-xds from the Kubernetes API: it watches
// GatewayClasses, Gateways, HTTPRoutes, GRPCRoutes, Services and CanaryPolicies, translates
// them with package gatewayapi whenever one changes, hands the result to the command (which
// merges it with the policy file and serves it), and writes back the status conditions of
// the objects it owns: Accepted and ResolvedRefs on routes, Accepted and Programmed on
// Gateways and their listeners, Accepted on GatewayClasses and CanaryPolicies.
package gatewaywatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"

	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// Options configure a Watcher.
type Options struct {
	// ControllerName is the GatewayClass controllerName handled, e.g. "foresight.dev/xds".
	ControllerName string
	// Kube, Gateway and Dynamic are the clients (core, Gateway API, CanaryPolicies).
	Kube    kubernetes.Interface
	Gateway gwclient.Interface
	Dynamic dynamic.Interface
	// Apply serves the translated objects; its error is written to the Gateways'
	// Programmed conditions (the last good configuration keeps serving).
	Apply func(ctx context.Context, spec policy.Spec) error
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
	// Debounce is how long a change waits for more before the translation runs. Default
	// 50ms.
	Debounce time.Duration
}

// Watcher is the Gateway API input of foresight-xds.
type Watcher struct {
	o       Options
	log     *slog.Logger
	kick    chan struct{}
	first   chan struct{} // closed after the first translation was handed to Apply
	once    sync.Once
	classes cacheLister
	gws     cacheLister
	https   cacheLister
	grpcs   cacheLister
	svcs    cacheLister
	grants  cacheLister // ReferenceGrants, read for cross-namespace references
	cps     cacheLister
	synced  []cache.InformerSynced
}

type cacheLister interface {
	List(labels.Selector) ([]runtime.Object, error)
}

type indexerLister struct{ cache.Indexer }

func (l indexerLister) List(labels.Selector) ([]runtime.Object, error) {
	var out []runtime.Object
	for _, o := range l.Indexer.List() {
		out = append(out, o.(runtime.Object))
	}
	return out, nil
}

// New returns a Watcher; Run starts it.
func New(o Options) (*Watcher, error) {
	if o.ControllerName == "" || o.Kube == nil || o.Gateway == nil || o.Dynamic == nil || o.Apply == nil {
		return nil, errors.New("gatewaywatch: ControllerName, Kube, Gateway, Dynamic and Apply are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Debounce <= 0 {
		o.Debounce = 50 * time.Millisecond
	}
	return &Watcher{o: o, log: o.Logger, kick: make(chan struct{}, 1), first: make(chan struct{})}, nil
}

// Synced is closed once the objects were listed and their first translation handed to
// Apply: a control plane that waits for it never serves a configuration without them.
func (w *Watcher) Synced() <-chan struct{} { return w.first }

func (w *Watcher) handler() cache.ResourceEventHandler {
	k := func() {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return cache.ResourceEventHandlerFuncs{AddFunc: func(any) { k() }, UpdateFunc: func(any, any) { k() }, DeleteFunc: func(any) { k() }}
}

// Run watches and reconciles until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	gf := gwinformers.NewSharedInformerFactory(w.o.Gateway, 0)
	kf := informers.NewSharedInformerFactory(w.o.Kube, 0)
	df := dynamicinformer.NewDynamicSharedInformerFactory(w.o.Dynamic, 0)
	add := func(inf cache.SharedIndexInformer) cacheLister {
		_, _ = inf.AddEventHandler(w.handler())
		w.synced = append(w.synced, inf.HasSynced)
		return indexerLister{inf.GetIndexer()}
	}
	w.classes = add(gf.Gateway().V1().GatewayClasses().Informer())
	w.gws = add(gf.Gateway().V1().Gateways().Informer())
	w.https = add(gf.Gateway().V1().HTTPRoutes().Informer())
	w.grpcs = add(gf.Gateway().V1().GRPCRoutes().Informer())
	w.svcs = add(kf.Core().V1().Services().Informer())
	w.grants = add(gf.Gateway().V1beta1().ReferenceGrants().Informer())
	w.cps = add(df.ForResource(gatewayapi.CanaryPolicyGVR).Informer())
	gf.Start(ctx.Done())
	kf.Start(ctx.Done())
	df.Start(ctx.Done())
	defer gf.Shutdown()
	defer kf.Shutdown()
	defer df.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		return ctx.Err()
	}
	w.log.Info("gateway API watch started", "controller", w.o.ControllerName)
	for {
		w.reconcile(ctx)
		w.once.Do(func() { close(w.first) })
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		}
		select { // gather a burst of changes into one translation
		case <-ctx.Done():
			return nil
		case <-time.After(w.o.Debounce):
		}
	}
}

// input lists the cached objects.
func (w *Watcher) input() *gatewayapi.Input {
	in := &gatewayapi.Input{ControllerName: w.o.ControllerName, Now: time.Now()}
	list := func(l cacheLister) []runtime.Object { objs, _ := l.List(labels.Everything()); return objs }
	for _, o := range list(w.classes) {
		in.GatewayClasses = append(in.GatewayClasses, o.(*gwv1.GatewayClass))
	}
	for _, o := range list(w.gws) {
		in.Gateways = append(in.Gateways, o.(*gwv1.Gateway))
	}
	for _, o := range list(w.https) {
		in.HTTPRoutes = append(in.HTTPRoutes, o.(*gwv1.HTTPRoute))
	}
	for _, o := range list(w.grpcs) {
		in.GRPCRoutes = append(in.GRPCRoutes, o.(*gwv1.GRPCRoute))
	}
	for _, o := range list(w.svcs) {
		in.Services = append(in.Services, o.(*corev1.Service))
	}
	for _, o := range list(w.grants) {
		in.ReferenceGrants = append(in.ReferenceGrants, (*gwv1.ReferenceGrant)(o.(*gwv1beta1.ReferenceGrant)))
	}
	for _, o := range list(w.cps) {
		u := o.(*unstructured.Unstructured)
		cp := &gatewayapi.CanaryPolicy{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cp); err != nil {
			w.log.Error("CanaryPolicy does not decode; ignored", "namespace", u.GetNamespace(), "name", u.GetName(), "error", err)
			continue
		}
		in.CanaryPolicies = append(in.CanaryPolicies, cp)
	}
	return in
}

// reconcile translates, applies and writes statuses.
func (w *Watcher) reconcile(ctx context.Context) {
	in := w.input()
	res := gatewayapi.Translate(in)
	err := w.o.Apply(ctx, res.Spec)
	if err != nil {
		w.log.Error("Gateway API configuration refused; the last good configuration keeps serving", "error", err)
	}
	for nn, st := range res.Gateways {
		programmed(st, err, in.Now, generation(in.Gateways, nn))
	}
	w.writeStatuses(ctx, in, res)
}

func generation(gws []*gwv1.Gateway, nn types.NamespacedName) int64 {
	for _, g := range gws {
		if g.Namespace == nn.Namespace && g.Name == nn.Name {
			return g.Generation
		}
	}
	return 0
}

// programmed adds the Programmed conditions of a Gateway and its listeners: true when the
// Gateway was accepted and its configuration is served.
func programmed(st *gwv1.GatewayStatus, applyErr error, now time.Time, gen int64) {
	accepted := slices.ContainsFunc(st.Conditions, func(c metav1.Condition) bool {
		return c.Type == string(gwv1.GatewayConditionAccepted) && c.Status == metav1.ConditionTrue
	})
	c := metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), Status: metav1.ConditionTrue, Reason: string(gwv1.GatewayReasonProgrammed),
		Message: "served to the Gateway's proxies", ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now)}
	switch {
	case !accepted:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, string(gwv1.GatewayReasonInvalid), "not accepted"
	case applyErr != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, string(gwv1.GatewayReasonInvalid), fmt.Sprintf("configuration refused: %v", applyErr)
	}
	st.Conditions = append(st.Conditions, c)
	for i := range st.Listeners {
		l := &st.Listeners[i]
		lc := c
		lc.Reason = string(gwv1.ListenerReasonProgrammed)
		if lc.Status == metav1.ConditionFalse {
			lc.Reason = string(gwv1.ListenerReasonInvalid)
		}
		if !slices.ContainsFunc(l.Conditions, func(c metav1.Condition) bool {
			return c.Type == string(gwv1.ListenerConditionAccepted) && c.Status == metav1.ConditionTrue
		}) {
			lc.Status, lc.Reason, lc.Message = metav1.ConditionFalse, string(gwv1.ListenerReasonInvalid), "listener not accepted"
		}
		l.Conditions = append(l.Conditions, lc)
	}
}

// writeStatuses updates every status that changed. Failures are logged; the next change
// (an update is one) retries.
func (w *Watcher) writeStatuses(ctx context.Context, in *gatewayapi.Input, res *gatewayapi.Result) {
	gw := w.o.Gateway.GatewayV1()
	for _, c := range in.GatewayClasses {
		want, ok := res.GatewayClasses[c.Name]
		if !ok {
			continue
		}
		conds := carry(c.Status.Conditions, want)
		if sameConditions(c.Status.Conditions, conds) {
			continue
		}
		cp := c.DeepCopy()
		cp.Status.Conditions = conds
		_, err := gw.GatewayClasses().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		w.logStatus("GatewayClass", "", c.Name, err)
	}
	for _, g := range in.Gateways {
		want, ok := res.Gateways[types.NamespacedName{Namespace: g.Namespace, Name: g.Name}]
		if !ok {
			continue
		}
		next := g.Status.DeepCopy()
		next.Conditions = carry(g.Status.Conditions, want.Conditions)
		var ls []gwv1.ListenerStatus
		for _, l := range want.Listeners {
			var old []metav1.Condition
			for _, o := range g.Status.Listeners {
				if o.Name == l.Name {
					old = o.Conditions
				}
			}
			l.Conditions = carry(old, l.Conditions)
			ls = append(ls, l)
		}
		next.Listeners = ls
		if sameGatewayStatus(&g.Status, next) {
			continue
		}
		cp := g.DeepCopy()
		cp.Status = *next
		_, err := gw.Gateways(g.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		w.logStatus("Gateway", g.Namespace, g.Name, err)
	}
	writeRoutes(ctx, w, gatewayapi.KindHTTPRoute, in.HTTPRoutes, res.HTTPRoutes, func(r *gwv1.HTTPRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus },
		func(ctx context.Context, r *gwv1.HTTPRoute) error {
			_, err := gw.HTTPRoutes(r.Namespace).UpdateStatus(ctx, r, metav1.UpdateOptions{})
			return err
		})
	writeRoutes(ctx, w, gatewayapi.KindGRPCRoute, in.GRPCRoutes, res.GRPCRoutes, func(r *gwv1.GRPCRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus },
		func(ctx context.Context, r *gwv1.GRPCRoute) error {
			_, err := gw.GRPCRoutes(r.Namespace).UpdateStatus(ctx, r, metav1.UpdateOptions{})
			return err
		})
	for _, cpol := range in.CanaryPolicies {
		want := res.CanaryPolicies[types.NamespacedName{Namespace: cpol.Namespace, Name: cpol.Name}]
		var next []gwv1.PolicyAncestorStatus
		for _, a := range cpol.Status.Ancestors {
			if string(a.ControllerName) != w.o.ControllerName {
				next = append(next, a)
			}
		}
		for _, a := range want {
			for _, o := range cpol.Status.Ancestors {
				if string(o.ControllerName) == w.o.ControllerName && sameRef(o.AncestorRef, a.AncestorRef) {
					a.Conditions = carry(o.Conditions, a.Conditions)
				}
			}
			next = append(next, a)
		}
		if sameAncestors(cpol.Status.Ancestors, next) {
			continue
		}
		st := gwv1.PolicyStatus{Ancestors: next}
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
		if err == nil {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion(gatewayapi.CanaryPolicyGVR.GroupVersion().String())
			u.SetKind("CanaryPolicy")
			u.SetNamespace(cpol.Namespace)
			u.SetName(cpol.Name)
			u.SetResourceVersion(cpol.ResourceVersion)
			u.Object["spec"] = map[string]any{}
			if spec, err2 := runtime.DefaultUnstructuredConverter.ToUnstructured(&cpol.Spec); err2 == nil {
				u.Object["spec"] = spec
			}
			u.Object["status"] = obj
			_, err = w.o.Dynamic.Resource(gatewayapi.CanaryPolicyGVR).Namespace(cpol.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
		}
		w.logStatus("CanaryPolicy", cpol.Namespace, cpol.Name, err)
	}
}

func (w *Watcher) logStatus(kind, ns, name string, err error) {
	switch {
	case err == nil:
		w.log.Debug("status written", "kind", kind, "namespace", ns, "name", name)
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		w.log.Debug("status not written: object changed; the change retriggers", "kind", kind, "namespace", ns, "name", name, "error", err)
	default:
		w.log.Error("status not written", "kind", kind, "namespace", ns, "name", name, "error", err)
	}
}

// parents replaces our entries of a route's parent statuses with want, keeping other
// controllers' entries, and says whether anything changed.
func (w *Watcher) parents(old, want []gwv1.RouteParentStatus) ([]gwv1.RouteParentStatus, bool) {
	var next []gwv1.RouteParentStatus
	for _, p := range old {
		if string(p.ControllerName) != w.o.ControllerName {
			next = append(next, p)
		}
	}
	for _, p := range want {
		for _, o := range old {
			if string(o.ControllerName) == w.o.ControllerName && sameRef(o.ParentRef, p.ParentRef) {
				p.Conditions = carry(o.Conditions, p.Conditions)
			}
		}
		next = append(next, p)
	}
	if len(next) != len(old) {
		return next, true
	}
	for i := range next {
		if !sameRef(next[i].ParentRef, old[i].ParentRef) || next[i].ControllerName != old[i].ControllerName || !sameConditions(next[i].Conditions, old[i].Conditions) {
			return next, true
		}
	}
	return next, false
}

// carry keeps the transition time of conditions whose status did not change.
func carry(old, next []metav1.Condition) []metav1.Condition {
	out := slices.Clone(next)
	for i := range out {
		for _, o := range old {
			if o.Type == out[i].Type && o.Status == out[i].Status {
				out[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return out
}

func sameConditions(a, b []metav1.Condition) bool {
	return slices.EqualFunc(a, b, func(x, y metav1.Condition) bool {
		return x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message &&
			x.ObservedGeneration == y.ObservedGeneration && x.LastTransitionTime.Equal(&y.LastTransitionTime)
	})
}

func sameGatewayStatus(a, b *gwv1.GatewayStatus) bool {
	if !sameConditions(a.Conditions, b.Conditions) || len(a.Listeners) != len(b.Listeners) {
		return false
	}
	for i := range a.Listeners {
		x, y := a.Listeners[i], b.Listeners[i]
		if x.Name != y.Name || x.AttachedRoutes != y.AttachedRoutes || !sameConditions(x.Conditions, y.Conditions) ||
			!slices.EqualFunc(x.SupportedKinds, y.SupportedKinds, func(p, q gwv1.RouteGroupKind) bool { return p.Kind == q.Kind }) {
			return false
		}
	}
	return true
}

func sameAncestors(a, b []gwv1.PolicyAncestorStatus) bool {
	return slices.EqualFunc(a, b, func(x, y gwv1.PolicyAncestorStatus) bool {
		return x.ControllerName == y.ControllerName && sameRef(x.AncestorRef, y.AncestorRef) && sameConditions(x.Conditions, y.Conditions)
	})
}

func sameRef(a, b gwv1.ParentReference) bool {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	g := func(p *gwv1.Group) string { return s((*string)(p)) }
	k := func(p *gwv1.Kind) string { return s((*string)(p)) }
	n := func(p *gwv1.Namespace) string { return s((*string)(p)) }
	sn := func(p *gwv1.SectionName) string { return s((*string)(p)) }
	port := func(p *gwv1.PortNumber) int32 {
		if p == nil {
			return 0
		}
		return *p
	}
	return g(a.Group) == g(b.Group) && k(a.Kind) == k(b.Kind) && n(a.Namespace) == n(b.Namespace) && a.Name == b.Name &&
		sn(a.SectionName) == sn(b.SectionName) && port(a.Port) == port(b.Port)
}
