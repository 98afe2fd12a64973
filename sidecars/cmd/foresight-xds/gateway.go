package main

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/foresight-dev/foresight/internal/clip"
	"github.com/foresight-dev/foresight/sidecars/canary"
	"github.com/foresight-dev/foresight/sidecars/discovery"
	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/gatewaywatch"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/xds"
)

// sources serves the policy file merged with what the Gateway API objects translate to. A
// change of either that is refused leaves the last good merge serving, and a refused
// Gateway API change is not kept for the next file change. checkGateway asks whether a
// Gateway API change would be served, for the watcher to single out refused Gateways.
type sources struct {
	rec *xds.Reconciler

	mu      sync.Mutex
	file    *policy.Policy
	gateway policy.Spec
	watcher *discovery.Watcher
	// runner runs the file's experiments (fileExps) and the ExperimentPolicies' (gwExps).
	runner   *experiment.Runner
	fileExps []*experiment.Experiment
	gwExps   []*experiment.Experiment
	// resync asks the Gateway API watch, when there is one, to translate again after the
	// file changed: a Gateway refused together with the old file may be served with the
	// new one, and its status must say which.
	resync func()
}

// setResync makes every served file change call resync.
func (s *sources) setResync(resync func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resync = resync
}

// setRunner makes r run the ExperimentPolicies' experiments besides its own.
func (s *sources) setRunner(r *experiment.Runner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runner = r
	s.fileExps = r.Experiments()
}

func (s *sources) setWatcher(w *discovery.Watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watcher = w
}

// policyFile is the policy file served (never changed in place: setFile replaces it).
func (s *sources) policyFile() *policy.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.file
}

// setFile serves a new policy file with the experiments of the experiments file (checked
// against it; none without one); both are taken back when the result is refused.
func (s *sources) setFile(ctx context.Context, p *policy.Policy, exps []*experiment.Experiment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, prevExps := s.file, s.fileExps
	s.file, s.fileExps = p, exps
	s.setExperiments()
	if err := s.apply(ctx); err != nil {
		s.file, s.fileExps = prev, prevExps
		s.setExperiments()
		return err
	}
	if s.resync != nil {
		s.resync()
	}
	return nil
}

// setGateway serves a new translation of the Gateway API objects and runs the experiments
// of their ExperimentPolicies; both are taken back when the result is refused.
func (s *sources) setGateway(ctx context.Context, spec policy.Spec, exps []*experiment.Experiment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, prevExps := s.gateway, s.gwExps
	if reflect.DeepEqual(prev, spec) && reflect.DeepEqual(prevExps, exps) {
		return nil // a status write or an unrelated change: nothing to serve anew
	}
	s.gateway, s.gwExps = spec, exps
	s.setExperiments()
	if err := s.apply(ctx); err != nil {
		s.gateway, s.gwExps = prev, prevExps
		s.setExperiments()
		return err
	}
	return nil
}

// checkGateway says whether setGateway would serve spec and exps, serving and changing
// nothing: it checks the merge apply would serve, with the runner's overlay as it would be
// with exps.
func (s *sources) checkGateway(ctx context.Context, spec policy.Spec, exps []*experiment.Experiment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var layers map[string]xds.Overlay
	if s.runner != nil {
		layers = map[string]xds.Overlay{experimentLayer: s.runner.OverlayWith(s.experiments(exps))}
	}
	return s.rec.CheckPolicy(ctx, s.merge(spec), layers)
}

// experiments are the file's experiments and the ExperimentPolicies' gwExps, as the runner
// drives them.
func (s *sources) experiments(gwExps []*experiment.Experiment) []*experiment.Experiment {
	return append(slices.Clone(s.fileExps), gwExps...)
}

// setExperiments hands the runner the file's and the ExperimentPolicies' experiments; the
// served policy's overlay reads them when apply builds it. Called with s.mu held.
func (s *sources) setExperiments() {
	if s.runner != nil {
		s.runner.SetExperiments(s.experiments(s.gwExps))
	}
}

// merge is the policy served with spec as the Gateway API's part: the policy file with spec
// merged in. Called with s.mu held.
func (s *sources) merge(spec policy.Spec) *policy.Policy {
	return gatewayapi.Merge(s.file, spec)
}

// apply serves the merge; called with s.mu held (or before sharing s).
func (s *sources) apply(ctx context.Context) error {
	merged := s.merge(s.gateway)
	if err := s.rec.SetPolicy(ctx, merged); err != nil {
		return err
	}
	if s.watcher != nil {
		s.watcher.SetTargets(ctx, discovery.Targets(merged))
	}
	return nil
}

// eventsController is the reporting controller of the Events foresight-xds records.
const eventsController = "foresight.dev/xds"

// newGatewayWatch watches the Gateway API objects of o.ControllerName and serves them through
// src; it writes their statuses, with the CanaryPolicies' rollouts and the ExperimentPolicies'
// experiments, and records Events of their changes, while o.Leading says so (always when
// nil). o holds what the watch is told (controller name, checks, the proxies'
// ServiceAccount, leading, rollouts, runs, logger); the clients, Apply, Check and Events are
// made here. Events are sent until ctx ends.
func newGatewayWatch(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, src *sources, o gatewaywatch.Options) (*gatewaywatch.Watcher, error) {
	gw, err := gwclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, broadcaster.Shutdown)
	o.Kube, o.Gateway, o.Dynamic = client, gw, dyn
	o.Apply, o.Check, o.File = src.setGateway, src.checkGateway, src.policyFile
	o.Events = broadcaster.NewRecorder(scheme.Scheme, eventsController)
	return gatewaywatch.New(o)
}

// resyncOf has the Gateway API watch gw holds write its statuses anew: nothing before the
// watch is made (after the controllers that call this), and nothing without one.
func resyncOf(gw *atomic.Pointer[gatewaywatch.Watcher]) func() {
	return func() {
		if w := gw.Load(); w != nil {
			w.Resync()
		}
	}
}

// experimentRunOf reads the ExperimentPolicies' experiments from runner: their state and,
// when aborted, when and why, as status.experiment.
func experimentRunOf(runner *experiment.Runner) func(string) *gatewayapi.ExperimentRunStatus {
	return func(name string) *gatewayapi.ExperimentRunStatus {
		state, reason, at, ok := runner.Status(name)
		if !ok {
			return nil
		}
		run := &gatewayapi.ExperimentRunStatus{State: state}
		if !at.IsZero() {
			t := metav1.NewTime(at).Rfc3339Copy()
			run.AbortedAt, run.Reason = &t, clip.Text(reason, maxStatusReason)
		}
		return run
	}
}

// maxStatusReason bounds the reasons of status.rollout and status.experiment (the CRDs allow
// 4096 bytes).
const maxStatusReason = 1024

// rolloutOf reads the CanaryPolicies' rollouts from the canary controller ctl holds (none
// before it is made): the rollouts the served policy declares, as status.rollout.
func rolloutOf(ctl *atomic.Pointer[canary.Controller]) func(string) *gatewayapi.CanaryRolloutStatus {
	return func(name string) *gatewayapi.CanaryRolloutStatus {
		c := ctl.Load()
		if c == nil {
			return nil
		}
		st := c.Current(name)
		if st == nil {
			return nil
		}
		// The API server keeps whole seconds: compared with what it holds, a finer time
		// would differ at every translation.
		return &gatewayapi.CanaryRolloutStatus{Phase: st.Phase, Step: st.Step, Weight: st.Weight, Failures: st.Failures,
			Reason: clip.Text(st.Reason, maxStatusReason), Updated: metav1.NewTime(st.Updated).Rfc3339Copy()}
	}
}
