// Package gatewaywatch feeds foresight-xds from the Kubernetes API. It watches:
//   - GatewayClasses, Gateways, HTTPRoutes, GRPCRoutes, Services and ReferenceGrants;
//   - Namespaces, cached reduced to their names and labels;
//   - kubernetes.io/tls Secrets, listed with a field selector on their type and cached reduced
//     to tls.crt and tls.key;
//   - ConfigMaps, cached reduced to the ca.crt that client certificate validation and
//     BackendTLSPolicies read;
//   - the attached policies (CanaryPolicies, BackendTrafficPolicies, ExperimentPolicies) and,
//     where the API serves them, BackendTLSPolicies, TLSRoutes and TCPRoutes.
//
// It translates them with package gatewayapi whenever one changes, hands the result to the
// command (which merges it with the policy file and serves it), and writes back the status of
// the objects it owns: Accepted and ResolvedRefs on routes, Accepted and Programmed on
// Gateways and their listeners, Accepted and supportedFeatures on GatewayClasses, Accepted on
// the attached policies (and ResolvedRefs on BackendTLSPolicies). It hands each translation
// the previous one's last good state (gatewayapi.LastGood, in memory only), so a Secret or a
// policy updated to an invalid version leaves its last good version serving. When the command
// refuses a translation, the Gateways whose own translation it refuses (Options.Check) are
// left out and the others served, so one Gateway the checks refuse does not hold back every
// other Gateway's changes; each of those keeps serving what it contributed to the last
// configuration served (in memory only), when it can be served with the others'.
package gatewaywatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"

	"github.com/foresight-dev/foresight/sidecars/check"
	"github.com/foresight-dev/foresight/sidecars/experiment"
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
	// Apply serves the translated objects and runs the experiments of the ExperimentPolicies;
	// its error is written to the Gateways' Programmed conditions (the last good
	// configuration keeps serving).
	Apply func(ctx context.Context, spec policy.Spec, experiments []*experiment.Experiment) error
	// Check, when set, says whether Apply would accept spec and experiments, serving and
	// changing nothing. When Apply refuses the translation of several Gateways, the watcher
	// checks each Gateway's own translation with it and serves the others without the new
	// configuration of those refused, and with their last good one when it is accepted (see
	// reconcile and isolate); without Check one refused Gateway keeps every Gateway's change
	// from being served.
	Check func(ctx context.Context, spec policy.Spec, experiments []*experiment.Experiment) error
	// Checks say what the proxies accept (gatewayapi.Input.Checks).
	Checks check.Options
	// File, when set, is the policy file Apply merges the translation with
	// (gatewayapi.Input.File), so that the status of a mesh route says when the file keeps
	// it from being served. Call Resync when it changes.
	File func() *policy.Policy
	// ProxyServiceAccount names the ServiceAccount of each Gateway's Envoy proxies
	// (gatewayapi.Input.ProxyServiceAccount); zero: any of the Gateway's namespace.
	ProxyServiceAccount gatewayapi.ServiceAccountTemplate
	// Logger; slog.Default() when nil.
	Logger *slog.Logger
	// Debounce is how long a change waits for more before the translation runs. Default
	// 50ms.
	Debounce time.Duration
	// CanaryRollout is where the rollout of the canary named name (gatewayapi.CanaryName of
	// a CanaryPolicy) stands, for the policy's status.rollout; nil when it is not driven.
	// Call Resync when one changes. Nil: no status.rollout is written.
	CanaryRollout func(name string) *gatewayapi.CanaryRolloutStatus
	// ExperimentRun is where the experiment named name (gatewayapi.ExperimentName of an
	// ExperimentPolicy) stands, for the policy's status.experiment; nil when it is not
	// driven. Call Resync when one changes. Nil: no status.experiment is written.
	ExperimentRun func(name string) *gatewayapi.ExperimentRunStatus
	// Events, when set, records an Event on a CanaryPolicy or ExperimentPolicy for each
	// change of its rollout or experiment this replica writes (started, advanced, paused,
	// resumed, promoted, rolled back, aborted, completed).
	Events events.EventRecorder
	// Leading says whether this replica writes the statuses; nil: it always does. Every
	// replica translates and serves; with several, only the leader writes, so they do not
	// race each other's writes (nor, during an upgrade, undo a newer version's). Call Resync
	// when it starts leading, to write what changed while it did not.
	Leading func() bool
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
	secrets cacheLister // kubernetes.io/tls Secrets, reduced to tls.crt and tls.key
	nss     cacheLister // Namespaces, reduced to their names and labels
	cms     cacheLister // ConfigMaps, reduced to ca.crt
	cps     cacheLister
	btps    cacheLister
	exps    cacheLister
	// tlsps are the BackendTLSPolicies, tlsRoutes and tcpRoutes the TLSRoutes and TCPRoutes,
	// and sets the ListenerSets of gateway.networking.k8s.io/v1; each nil when the API serves
	// none (Gateway API CRDs older than v1.4, or older than v1.5 for the others).
	tlsps, tlsRoutes, tcpRoutes, sets cacheLister
	synced                            []cache.InformerSynced
	// lastGood is the last translation's memory of the last valid certificates and the
	// last accepted policies (read and written by the reconcile loop only).
	lastGood *gatewayapi.LastGood
	// listenerSetsWritten are the ListenerSets whose status the last writeStatuses wrote (read
	// and written by the reconcile loop only): one that is no longer ours has it cleared.
	listenerSetsWritten map[types.NamespacedName]bool
	// served is the configuration Apply last accepted, from which isolate takes a refused
	// Gateway's part to keep serving it (read and written by the reconcile loop only). It is
	// the translation that was served, kept by reference (no copy: it is not changed after
	// Apply), so it costs nothing until a Gateway is refused; in memory only.
	served servedConfig
}

// servedConfig is a configuration Apply accepted.
type servedConfig struct {
	spec        policy.Spec
	experiments []*experiment.Experiment
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

// Resync asks for a translation although no watched object changed: what Apply serves
// beside it did (the policy file), and a Gateway refused together with that may now be
// served, or one served may now be refused. It does not block; several calls before the
// translation starts make one.
func (w *Watcher) Resync() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Watcher) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{AddFunc: func(any) { w.Resync() }, UpdateFunc: func(any, any) { w.Resync() }, DeleteFunc: func(any) { w.Resync() }}
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
	sf := informers.NewSharedInformerFactoryWithOptions(w.o.Kube, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("type", string(corev1.SecretTypeTLS)).String()
	}))
	si := sf.Core().V1().Secrets().Informer()
	if err := si.SetTransform(tlsOnly); err != nil {
		return err
	}
	w.secrets = add(si)
	// Namespaces, for the listeners whose allowedRoutes select namespaces by label. A
	// cluster may have thousands: the cache keeps of each only its name and labels
	// (nameAndLabels; no annotations, managed fields, spec or status), so it costs little
	// memory, and only a change of the labels (or a namespace added or deleted) kicks a
	// translation, not every annotation or status update of a namespace.
	ni := kf.Core().V1().Namespaces().Informer()
	if err := ni.SetTransform(nameAndLabels); err != nil {
		return err
	}
	kick := w.handler()
	_, _ = ni.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) { kick.OnAdd(o, false) },
		UpdateFunc: func(old, cur any) {
			if labelsChanged(old, cur) {
				kick.OnUpdate(old, cur)
			}
		},
		DeleteFunc: kick.OnDelete,
	})
	w.synced = append(w.synced, ni.HasSynced)
	w.nss = indexerLister{ni.GetIndexer()}
	// ConfigMaps, for the CA certificates of client certificate validation. The cache keeps
	// of each only its ca.crt, and only a change of a ca.crt kicks a translation: ConfigMaps
	// that change every few seconds (leader election, say) hold none.
	ci := kf.Core().V1().ConfigMaps().Informer()
	if err := ci.SetTransform(caOnly); err != nil {
		return err
	}
	_, _ = ci.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			if hasCA(o) {
				kick.OnAdd(o, false)
			}
		},
		UpdateFunc: func(old, cur any) {
			if caChanged(old, cur) {
				kick.OnUpdate(old, cur)
			}
		},
		DeleteFunc: func(o any) {
			if hasCA(o) {
				kick.OnDelete(o)
			}
		},
	})
	w.synced = append(w.synced, ci.HasSynced)
	w.cms = indexerLister{ci.GetIndexer()}
	w.cps = add(df.ForResource(gatewayapi.CanaryPolicyGVR).Informer())
	w.btps = add(df.ForResource(gatewayapi.BackendTrafficPolicyGVR).Informer())
	w.exps = add(df.ForResource(gatewayapi.ExperimentPolicyGVR).Informer())
	// optional watches a kind that older Gateway API CRDs lack, where the API serves it.
	optional := func(gvr schema.GroupVersionResource, informer func() cache.SharedIndexInformer) (cacheLister, error) {
		served, err := servesResource(w.o.Kube.Discovery(), gvr)
		switch {
		case err != nil:
			return nil, fmt.Errorf("gatewaywatch: whether the API serves %s: %w", gvr, err)
		case served:
			return add(informer()), nil
		}
		w.log.Warn("the API serves none of a kind (older Gateway API CRDs): it is not watched until a restart after it is installed", "resource", gvr.String())
		return nil, nil
	}
	var err error
	// The informers are made (and so registered with their factories) only when served.
	if w.tlsps, err = optional(gatewayapi.BackendTLSPolicyGVR, func() cache.SharedIndexInformer {
		return df.ForResource(gatewayapi.BackendTLSPolicyGVR).Informer()
	}); err != nil {
		return err
	}
	if w.tlsRoutes, err = optional(gatewayapi.TLSRouteGVR, func() cache.SharedIndexInformer { return gf.Gateway().V1().TLSRoutes().Informer() }); err != nil {
		return err
	}
	if w.tcpRoutes, err = optional(gatewayapi.TCPRouteGVR, func() cache.SharedIndexInformer { return gf.Gateway().V1().TCPRoutes().Informer() }); err != nil {
		return err
	}
	if w.sets, err = optional(gatewayapi.ListenerSetGVR, func() cache.SharedIndexInformer { return gf.Gateway().V1().ListenerSets().Informer() }); err != nil {
		return err
	}
	gf.Start(ctx.Done())
	kf.Start(ctx.Done())
	sf.Start(ctx.Done())
	df.Start(ctx.Done())
	defer gf.Shutdown()
	defer kf.Shutdown()
	defer sf.Shutdown()
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
	in := &gatewayapi.Input{ControllerName: w.o.ControllerName, Checks: w.o.Checks, ProxyServiceAccount: w.o.ProxyServiceAccount, Now: time.Now()}
	if w.o.File != nil {
		in.File = w.o.File()
	}
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
	if w.tlsRoutes != nil {
		in.Served.TLSRoutes = true
		for _, o := range list(w.tlsRoutes) {
			in.TLSRoutes = append(in.TLSRoutes, o.(*gwv1.TLSRoute))
		}
	}
	if w.tcpRoutes != nil {
		in.Served.TCPRoutes = true
		for _, o := range list(w.tcpRoutes) {
			in.TCPRoutes = append(in.TCPRoutes, o.(*gwv1.TCPRoute))
		}
	}
	if w.sets != nil {
		in.Served.ListenerSets = true
		for _, o := range list(w.sets) {
			in.ListenerSets = append(in.ListenerSets, o.(*gwv1.ListenerSet))
		}
	}
	for _, o := range list(w.svcs) {
		in.Services = append(in.Services, o.(*corev1.Service))
	}
	for _, o := range list(w.grants) {
		in.ReferenceGrants = append(in.ReferenceGrants, (*gwv1.ReferenceGrant)(o.(*gwv1beta1.ReferenceGrant)))
	}
	for _, o := range list(w.nss) {
		in.Namespaces = append(in.Namespaces, o.(*corev1.Namespace))
	}
	refs := certificateRefs(in.Gateways, in.ListenerSets)
	for _, o := range list(w.secrets) {
		s := o.(*corev1.Secret)
		if refs[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] {
			in.Secrets = append(in.Secrets, s)
		}
	}
	if w.tlsps != nil {
		in.Served.BackendTLSPolicies = true
		for _, o := range list(w.tlsps) {
			if p := decode[gwv1.BackendTLSPolicy](w, o); p != nil {
				in.BackendTLSPolicies = append(in.BackendTLSPolicies, p)
			}
		}
	}
	cas := gatewayapi.CACertificateRefs(in.Gateways)
	maps.Copy(cas, gatewayapi.BackendTLSCACertificateRefs(in.BackendTLSPolicies))
	for _, o := range list(w.cms) {
		c := o.(*corev1.ConfigMap)
		if cas[types.NamespacedName{Namespace: c.Namespace, Name: c.Name}] {
			in.ConfigMaps = append(in.ConfigMaps, c)
		}
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
	for _, o := range list(w.btps) {
		if p := decode[gatewayapi.BackendTrafficPolicy](w, o); p != nil {
			in.BackendTrafficPolicies = append(in.BackendTrafficPolicies, p)
		}
	}
	for _, o := range list(w.exps) {
		if p := decode[gatewayapi.ExperimentPolicy](w, o); p != nil {
			in.ExperimentPolicies = append(in.ExperimentPolicies, p)
		}
	}
	return in
}

// reconcile translates, applies and writes statuses (when leading). When Apply refuses the translation,
// isolate looks for the Gateways whose own translation is refused and serves the others
// without them, and each of them with its last good configuration when it had one: a
// refused Gateway is Programmed=False with its own error (and whether its last good
// configuration keeps serving), the others are Programmed=True. When it cannot single them
// out, every Gateway is Programmed=False with Apply's error and the last good configuration
// keeps serving.
func (w *Watcher) reconcile(ctx context.Context) {
	in := w.input()
	in.LastGood = w.lastGood
	res := gatewayapi.Translate(in)
	w.lastGood = res.LastGood
	err := w.o.Apply(ctx, res.Spec, res.Experiments)
	statuses := res
	var iso *isolation
	if err == nil {
		w.served = servedConfig{spec: res.Spec, experiments: res.Experiments}
	} else if iso = w.isolate(ctx, in, res, err); iso != nil {
		statuses, err = iso.statuses(res), nil
		w.served = servedConfig{spec: iso.spec, experiments: iso.experiments}
	} else {
		w.log.Error("Gateway API configuration refused; the last good configuration keeps serving", "error", err)
	}
	gwErrs := map[types.NamespacedName]error{}
	setsServe := map[types.NamespacedName]bool{} // Gateways that a ListenerSet's listener is served on
	for nn, st := range res.ListenerSets {
		if meta.IsStatusConditionTrue(st.Conditions, string(gwv1.ListenerSetConditionAccepted)) && len(res.ListenerSetUnserved[nn]) < len(st.Listeners) {
			setsServe[res.ListenerSetGateways[nn]] = true
		}
	}
	for nn, st := range res.Gateways {
		gwErr := err
		if iso != nil {
			gwErr = iso.refusal(nn)
		}
		gwErrs[nn] = gwErr
		programmed(st, res.Unserved[nn], setsServe[nn], res.AddressesNotAssigned[nn], gwErr, in.Now, generation(in.Gateways, nn))
	}
	for nn, st := range res.ListenerSets {
		listenerSetProgrammed(st, res.ListenerSetUnserved[nn], gwErrs[res.ListenerSetGateways[nn]], in.Now, generation(in.ListenerSets, nn))
	}
	if w.o.Leading == nil || w.o.Leading() {
		w.writeStatuses(ctx, in, statuses)
	}
}

// generation is the metadata.generation of the object nn of objs (0 when it is not there).
func generation[T metav1.Object](objs []T, nn types.NamespacedName) int64 {
	for _, o := range objs {
		if o.GetNamespace() == nn.Namespace && o.GetName() == nn.Name {
			return o.GetGeneration()
		}
	}
	return 0
}

// programmed adds the Programmed conditions of a Gateway and its listeners: true when the
// Gateway was accepted and its configuration is served (some listener of it is, or of its
// ListenerSets when setsServe), and for a listener, when the translation serves it
// (unserved says why not). A served Gateway whose spec.addresses are not assigned
// (addressesNotAssigned says so) is not Programmed (AddressNotAssigned), while its listeners
// are.
func programmed(st *gwv1.GatewayStatus, unserved map[gwv1.SectionName]string, setsServe bool, addressesNotAssigned string, applyErr error, now time.Time, gen int64) {
	accepted := slices.ContainsFunc(st.Conditions, func(c metav1.Condition) bool {
		return c.Type == string(gwv1.GatewayConditionAccepted) && c.Status == metav1.ConditionTrue
	})
	c := metav1.Condition{Type: string(gwv1.GatewayConditionProgrammed), Status: metav1.ConditionTrue, Reason: string(gwv1.GatewayReasonProgrammed),
		Message: "served to the Gateway's proxies", ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now)}
	switch {
	case !accepted:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, string(gwv1.GatewayReasonInvalid), "not accepted"
	case len(st.Listeners) > 0 && len(unserved) >= len(st.Listeners) && !setsServe:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, string(gwv1.GatewayReasonInvalid), "no listener is served (their conditions say why)"
	case applyErr != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, string(gwv1.GatewayReasonInvalid), fmt.Sprintf("configuration refused: %v", applyErr)
	}
	gc := c
	if c.Status == metav1.ConditionTrue && addressesNotAssigned != "" {
		gc.Status, gc.Reason, gc.Message = metav1.ConditionFalse, string(gwv1.GatewayReasonAddressNotAssigned), addressesNotAssigned
	}
	st.Conditions = append(st.Conditions, gc)
	for i := range st.Listeners {
		l := &st.Listeners[i]
		l.Conditions = append(l.Conditions, listenerProgrammed(c, unserved, l.Name, string(gwv1.ListenerReasonInvalid)))
	}
}

// listenerProgrammed is the Programmed condition of the listener name of a Gateway or
// ListenerSet whose own is c: c with a listener's reason, unless unserved says why the
// listener is not served (with reason unservedReason).
func listenerProgrammed(c metav1.Condition, unserved map[gwv1.SectionName]string, name gwv1.SectionName, unservedReason string) metav1.Condition {
	lc := c
	lc.Reason = string(gwv1.ListenerReasonProgrammed)
	if lc.Status == metav1.ConditionFalse {
		lc.Reason = string(gwv1.ListenerReasonInvalid)
	}
	if why, out := unserved[name]; out {
		lc.Status, lc.Reason, lc.Message = metav1.ConditionFalse, unservedReason, why
	}
	return lc
}

// listenerSetReasonParentNotProgrammed is the reason the Gateway API names (without a
// constant) for a ListenerSet whose Gateway's configuration is not programmed.
const listenerSetReasonParentNotProgrammed = "ParentNotProgrammed"

// unservedReason is the reason of the Programmed=False condition of a ListenerSet's listener
// that is not served: that of its conflict when it has one (a listener that lost its port or
// hostname to another, as the Gateway API's conformance asks), else Invalid.
func unservedReason(conds []metav1.Condition) string {
	if c := meta.FindStatusCondition(conds, string(gwv1.ListenerConditionConflicted)); c != nil && c.Status == metav1.ConditionTrue {
		return c.Reason
	}
	return string(gwv1.ListenerReasonInvalid)
}

// listenerSetProgrammed adds the Programmed conditions of a ListenerSet and its listeners:
// true when the ListenerSet is accepted and the configuration of its Gateway is served
// (applyErr, the Gateway's, says why not), and for a listener, when it is also served
// (unserved says why not). A ListenerSet that is not accepted is not programmed, for the
// same reason.
func listenerSetProgrammed(st *gwv1.ListenerSetStatus, unserved map[gwv1.SectionName]string, applyErr error, now time.Time, gen int64) {
	c := metav1.Condition{Type: string(gwv1.ListenerSetConditionProgrammed), Status: metav1.ConditionTrue, Reason: string(gwv1.ListenerSetReasonProgrammed),
		Message: "served to the Gateway's proxies", ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now)}
	accepted := meta.FindStatusCondition(st.Conditions, string(gwv1.ListenerSetConditionAccepted))
	switch {
	case accepted == nil || accepted.Status != metav1.ConditionTrue:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, string(gwv1.ListenerSetReasonListenersNotValid), "not accepted"
		if accepted != nil {
			c.Reason, c.Message = accepted.Reason, "not accepted: "+accepted.Message
		}
	case applyErr != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, listenerSetReasonParentNotProgrammed, fmt.Sprintf("its Gateway's configuration is refused: %v", applyErr)
	}
	st.Conditions = append(st.Conditions, c)
	for i := range st.Listeners {
		l := &st.Listeners[i]
		l.Conditions = append(l.Conditions, listenerProgrammed(c, unserved, l.Name, unservedReason(l.Conditions)))
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
		var supported []gwv1.SupportedFeature
		if meta.IsStatusConditionTrue(want, string(gwv1.GatewayClassConditionStatusAccepted)) {
			supported = res.SupportedFeatures
		}
		if sameConditions(c.Status.Conditions, conds) && slices.Equal(c.Status.SupportedFeatures, supported) {
			continue
		}
		cp := c.DeepCopy()
		cp.Status.Conditions, cp.Status.SupportedFeatures = conds, supported
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
		next.Listeners = carryListeners(g.Status.Listeners, want.Listeners)
		next.AttachedListenerSets = want.AttachedListenerSets
		if sameGatewayStatus(&g.Status, next) {
			continue
		}
		cp := g.DeepCopy()
		cp.Status = *next
		_, err := gw.Gateways(g.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		w.logStatus("Gateway", g.Namespace, g.Name, err)
	}
	wrote := map[types.NamespacedName]bool{}
	for _, set := range in.ListenerSets {
		nn := types.NamespacedName{Namespace: set.Namespace, Name: set.Name}
		want, ok := res.ListenerSets[nn]
		switch {
		case ok:
			wrote[nn] = true
		case w.listenerSetsWritten[nn]:
			// Its parent is no longer one of our Gateways (deleted, another class's, or
			// another parentRef): what we wrote no longer holds, and is cleared.
			want = &gwv1.ListenerSetStatus{}
		default:
			continue
		}
		cur := asGatewayStatus(&set.Status)
		next := &gwv1.GatewayStatus{Conditions: carry(cur.Conditions, want.Conditions), Listeners: carryListeners(cur.Listeners, asGatewayStatus(want).Listeners)}
		if sameGatewayStatus(cur, next) {
			continue
		}
		cp := set.DeepCopy()
		cp.Status = asListenerSetStatus(next)
		_, err := gw.ListenerSets(set.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
		w.logStatus(gatewayapi.KindListenerSet, set.Namespace, set.Name, err)
	}
	w.listenerSetsWritten = wrote
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
	writeRoutes(ctx, w, gatewayapi.KindTLSRoute, in.TLSRoutes, res.TLSRoutes, func(r *gwv1.TLSRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus },
		func(ctx context.Context, r *gwv1.TLSRoute) error {
			_, err := gw.TLSRoutes(r.Namespace).UpdateStatus(ctx, r, metav1.UpdateOptions{})
			return err
		})
	writeRoutes(ctx, w, gatewayapi.KindTCPRoute, in.TCPRoutes, res.TCPRoutes, func(r *gwv1.TCPRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus },
		func(ctx context.Context, r *gwv1.TCPRoute) error {
			_, err := gw.TCPRoutes(r.Namespace).UpdateStatus(ctx, r, metav1.UpdateOptions{})
			return err
		})
	for _, p := range in.CanaryPolicies {
		var rollout *gatewayapi.CanaryRolloutStatus
		if w.o.CanaryRollout != nil {
			rollout = w.o.CanaryRollout(res.CanaryNames[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}])
		}
		if w.writePolicyStatus(ctx, gatewayapi.CanaryPolicyGVR, gatewayapi.KindCanaryPolicy, &p.ObjectMeta, &p.Spec, p.Status.Ancestors,
			res.CanaryPolicies[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}], statusFieldOf("rollout", p.Status.Rollout, rollout)) {
			w.rolloutEvent(&p.ObjectMeta, p.Status.Rollout, rollout)
		}
	}
	for _, p := range in.BackendTrafficPolicies {
		w.writePolicyStatus(ctx, gatewayapi.BackendTrafficPolicyGVR, gatewayapi.KindBackendTrafficPolicy, &p.ObjectMeta, &p.Spec, p.Status.Ancestors,
			res.BackendTrafficPolicies[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}], nil)
	}
	for _, p := range in.BackendTLSPolicies {
		w.writePolicyStatus(ctx, gatewayapi.BackendTLSPolicyGVR, gatewayapi.KindBackendTLSPolicy, &p.ObjectMeta, &p.Spec, p.Status.Ancestors,
			res.BackendTLSPolicies[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}], nil)
	}
	for _, p := range in.ExperimentPolicies {
		var run *gatewayapi.ExperimentRunStatus
		if w.o.ExperimentRun != nil {
			run = w.o.ExperimentRun(gatewayapi.ExperimentName(p.Namespace, p.Name))
		}
		if w.writePolicyStatus(ctx, gatewayapi.ExperimentPolicyGVR, gatewayapi.KindExperimentPolicy, &p.ObjectMeta, &p.Spec, p.Status.Ancestors,
			res.ExperimentPolicies[types.NamespacedName{Namespace: p.Namespace, Name: p.Name}], statusFieldOf("experiment", p.Status.Experiment, run)) {
			w.experimentEvent(&p.ObjectMeta, p.Status.Experiment, run)
		}
	}
}

// decode converts a cached object of an attached policy; one that does not decode is
// logged and left out.
func decode[T any](w *Watcher, o runtime.Object) *T {
	u := o.(*unstructured.Unstructured)
	p := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
		w.log.Error("attached policy does not decode; ignored", "kind", u.GetKind(), "namespace", u.GetNamespace(), "name", u.GetName(), "error", err)
		return nil
	}
	return p
}

// statusField is a field of a policy's status beside its ancestors' (a CanaryPolicy's
// rollout, an ExperimentPolicy's experiment): its name, the value to hold, and whether that
// differs from the object's.
type statusField struct {
	name    string
	value   any
	changed bool
}

// statusFieldOf is the status field name that holds old now and should hold want; a nil want
// keeps old (what is not driven now keeps its last status), and nil is returned when there is
// neither.
func statusFieldOf[T any](name string, old, want *T) *statusField {
	if want == nil {
		want = old
	}
	if want == nil {
		return nil
	}
	return &statusField{name: name, value: want, changed: !equality.Semantic.DeepEqual(old, want)}
}

// writePolicyStatus writes the ancestor statuses of one attached policy when ours changed,
// keeping other controllers' entries, and the status field extra (nil: none) when it changed.
// It says whether it wrote a changed extra.
func (w *Watcher) writePolicyStatus(ctx context.Context, gvr schema.GroupVersionResource, kind string, meta *metav1.ObjectMeta, spec any, old, want []gwv1.PolicyAncestorStatus, extra *statusField) bool {
	next, changed := mergeStatuses(w.o.ControllerName, old, want, func(a *gwv1.PolicyAncestorStatus) (gwv1.GatewayController, gwv1.ParentReference, *[]metav1.Condition) {
		return a.ControllerName, a.AncestorRef, &a.Conditions
	})
	if !changed && (extra == nil || !extra.changed) {
		return false
	}
	st, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&gwv1.PolicyStatus{Ancestors: next})
	if err == nil && extra != nil {
		st[extra.name], err = runtime.DefaultUnstructuredConverter.ToUnstructured(extra.value)
	}
	if err == nil {
		var sp map[string]any
		if sp, err = runtime.DefaultUnstructuredConverter.ToUnstructured(spec); err == nil {
			u := &unstructured.Unstructured{Object: map[string]any{"spec": sp, "status": st}}
			u.SetAPIVersion(gvr.GroupVersion().String())
			u.SetKind(kind)
			u.SetNamespace(meta.Namespace)
			u.SetName(meta.Name)
			u.SetResourceVersion(meta.ResourceVersion)
			_, err = w.o.Dynamic.Resource(gvr).Namespace(meta.Namespace).UpdateStatus(ctx, u, metav1.UpdateOptions{})
		}
	}
	w.logStatus(kind, meta.Namespace, meta.Name, err)
	return err == nil && extra != nil && extra.changed
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
	return mergeStatuses(w.o.ControllerName, old, want, func(p *gwv1.RouteParentStatus) (gwv1.GatewayController, gwv1.ParentReference, *[]metav1.Condition) {
		return p.ControllerName, p.ParentRef, &p.Conditions
	})
}

// mergeStatuses replaces the entries of the controller named ours in old (route parent or
// policy ancestor statuses) with want, keeping other controllers' entries and carrying the
// transition times of our conditions whose status did not change, and says whether the
// result differs from old. fields gives an entry's controller, reference and conditions.
func mergeStatuses[T any](ours string, old, want []T, fields func(*T) (gwv1.GatewayController, gwv1.ParentReference, *[]metav1.Condition)) ([]T, bool) {
	var next []T
	for _, e := range old {
		if c, _, _ := fields(&e); string(c) != ours {
			next = append(next, e)
		}
	}
	for _, e := range want {
		_, ref, conds := fields(&e)
		for _, o := range old {
			if oc, oref, oconds := fields(&o); string(oc) == ours && sameRef(oref, ref) {
				*conds = carry(*oconds, *conds)
			}
		}
		next = append(next, e)
	}
	same := slices.EqualFunc(next, old, func(x, y T) bool {
		xc, xref, xconds := fields(&x)
		yc, yref, yconds := fields(&y)
		return sameRef(xref, yref) && xc == yc && sameConditions(*xconds, *yconds)
	})
	return next, !same
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

// carryListeners are the listener statuses next, with the transition times of the
// conditions that did not change since old.
func carryListeners(old, next []gwv1.ListenerStatus) []gwv1.ListenerStatus {
	var out []gwv1.ListenerStatus
	for _, l := range next {
		var prev []metav1.Condition
		for _, o := range old {
			if o.Name == l.Name {
				prev = o.Conditions
			}
		}
		l.Conditions = carry(prev, l.Conditions)
		out = append(out, l)
	}
	return out
}

// asGatewayStatus and asListenerSetStatus convert between the status of a ListenerSet and
// that of a Gateway with the same conditions and listeners, so that both are written alike.
func asGatewayStatus(s *gwv1.ListenerSetStatus) *gwv1.GatewayStatus {
	out := &gwv1.GatewayStatus{Conditions: s.Conditions}
	for _, l := range s.Listeners {
		out.Listeners = append(out.Listeners, gwv1.ListenerStatus(l))
	}
	return out
}

func asListenerSetStatus(s *gwv1.GatewayStatus) gwv1.ListenerSetStatus {
	out := gwv1.ListenerSetStatus{Conditions: s.Conditions}
	for _, l := range s.Listeners {
		out.Listeners = append(out.Listeners, gwv1.ListenerEntryStatus(l))
	}
	return out
}

// equalPtr says whether a and b are both nil or point to equal values.
func equalPtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func sameGatewayStatus(a, b *gwv1.GatewayStatus) bool {
	if !sameConditions(a.Conditions, b.Conditions) || len(a.Listeners) != len(b.Listeners) || !equalPtr(a.AttachedListenerSets, b.AttachedListenerSets) {
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

// tlsOnly reduces a cached Secret to what a certificate reference needs: its name, type and
// the tls.crt and tls.key entries (no other data, labels, annotations or managed fields).
// Entries over gatewayapi.MaxCertificateBytes together are not kept: their size is, in the
// annotation gatewayapi.OversizedAnnotation.
func tlsOnly(o any) (any, error) {
	s, ok := o.(*corev1.Secret)
	if !ok {
		return o, nil // a deletion tombstone
	}
	out := &corev1.Secret{Type: s.Type, Data: map[string][]byte{}}
	out.Namespace, out.Name, out.UID, out.ResourceVersion = s.Namespace, s.Name, s.UID, s.ResourceVersion
	if n := len(s.Data[corev1.TLSCertKey]) + len(s.Data[corev1.TLSPrivateKeyKey]); n > gatewayapi.MaxCertificateBytes {
		// Not kept: the translation says they are too large.
		out.Annotations = map[string]string{gatewayapi.OversizedAnnotation: strconv.Itoa(n)}
		return out, nil
	}
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
		if v, ok := s.Data[k]; ok {
			out.Data[k] = v
		}
	}
	return out, nil
}

// caOnly reduces a cached ConfigMap to what client certificate validation and
// BackendTLSPolicies read: its name and its ca.crt (no other data, labels, annotations or
// managed fields). A ca.crt over gatewayapi.MaxCertificateBytes is not kept: its size is,
// in the annotation gatewayapi.OversizedAnnotation.
func caOnly(o any) (any, error) {
	c, ok := o.(*corev1.ConfigMap)
	if !ok {
		return o, nil // a deletion tombstone
	}
	out := &corev1.ConfigMap{}
	out.Namespace, out.Name, out.UID, out.ResourceVersion = c.Namespace, c.Name, c.UID, c.ResourceVersion
	if v, ok := c.Data[gatewayapi.CACertificateKey]; ok {
		if len(v) > gatewayapi.MaxCertificateBytes {
			// Not kept: the translation says it is too large.
			out.Annotations = map[string]string{gatewayapi.OversizedAnnotation: strconv.Itoa(len(v))}
			v = ""
		}
		out.Data = map[string]string{gatewayapi.CACertificateKey: v}
	}
	return out, nil
}

// hasCA says whether o is a ConfigMap with a ca.crt (true for a deletion tombstone, whose
// content is unknown).
func hasCA(o any) bool {
	c, ok := o.(*corev1.ConfigMap)
	if !ok {
		return true
	}
	_, has := c.Data[gatewayapi.CACertificateKey]
	return has
}

// caChanged says whether a ConfigMap update changed its ca.crt.
func caChanged(old, cur any) bool {
	o, ok1 := old.(*corev1.ConfigMap)
	c, ok2 := cur.(*corev1.ConfigMap)
	if !ok1 || !ok2 {
		return true
	}
	ov, oh := o.Data[gatewayapi.CACertificateKey]
	cv, ch := c.Data[gatewayapi.CACertificateKey]
	return oh != ch || ov != cv || o.Annotations[gatewayapi.OversizedAnnotation] != c.Annotations[gatewayapi.OversizedAnnotation]
}

// nameAndLabels reduces a cached Namespace to what allowedRoutes' namespace selectors read:
// its name and labels (and UID and resourceVersion, the identity of the version cached).
func nameAndLabels(o any) (any, error) {
	n, ok := o.(*corev1.Namespace)
	if !ok {
		return o, nil // a deletion tombstone
	}
	out := &corev1.Namespace{}
	out.Name, out.UID, out.ResourceVersion, out.Labels = n.Name, n.UID, n.ResourceVersion, n.Labels
	return out, nil
}

// labelsChanged says whether a Namespace update changed its labels (true when either is not
// a Namespace).
func labelsChanged(old, cur any) bool {
	o, ok1 := old.(*corev1.Namespace)
	c, ok2 := cur.(*corev1.Namespace)
	return !ok1 || !ok2 || !maps.Equal(o.Labels, c.Labels)
}

// certificateRefs are the Secrets the listeners of gws and of sets name: only those are
// translated.
func certificateRefs(gws []*gwv1.Gateway, sets []*gwv1.ListenerSet) map[types.NamespacedName]bool {
	out := map[types.NamespacedName]bool{}
	add := func(ns string, tls *gwv1.ListenerTLSConfig) {
		if tls == nil {
			return
		}
		for _, r := range tls.CertificateRefs {
			n := ns
			if r.Namespace != nil && *r.Namespace != "" {
				n = string(*r.Namespace)
			}
			out[types.NamespacedName{Namespace: n, Name: string(r.Name)}] = true
		}
	}
	for _, g := range gws {
		for _, l := range g.Spec.Listeners {
			add(g.Namespace, l.TLS)
		}
	}
	for _, s := range sets {
		for _, l := range s.Spec.Listeners {
			add(s.Namespace, l.TLS)
		}
	}
	return out
}

// servesResource reports whether the API serves the resource gvr (its CRD is installed).
func servesResource(d discovery.DiscoveryInterface, gvr schema.GroupVersionResource) (bool, error) {
	list, err := d.ServerResourcesForGroupVersion(gvr.GroupVersion().String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == gvr.Resource }), nil
}
