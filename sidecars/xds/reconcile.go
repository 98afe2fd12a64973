package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/translate"
)

// Overlay changes a policy before it is translated; experiments use one to add their faults,
// canaries one to set their routes' weights. It must not modify its argument.
type Overlay func(*policy.Policy) (*policy.Policy, error)

// Reconciler keeps the served configuration equal to translate(overlay(policy)) with the
// discovered endpoints of kubernetes services, rebuilding it whenever one of them changes. A
// change that fails (invalid policy, failed translation or check) is refused and the last
// good configuration keeps serving. CheckPolicy runs the same checks as SetPolicy without
// serving anything, for a caller that wants to know which of several candidate policies
// would be refused before it serves one.
type Reconciler struct {
	log    *slog.Logger
	server *Server

	// grouping is the policy nodes are grouped and admitted by (NodeGroup, Authorize): the
	// policy being served from the moment it is served on. It is read without mu, so that the
	// streams' requests are answered while a change is served (Server.serve waits for the
	// proxies to warm new clusters).
	grouping atomic.Pointer[policy.Policy]

	mu        sync.Mutex
	policy    *policy.Policy
	layers    map[string]Overlay           // by layer name, applied in name order
	endpoints map[string][]policy.Endpoint // discovered, by cluster name
}

// NewReconciler returns a Reconciler; Bind it to a Server before setting a policy.
func NewReconciler(log *slog.Logger) *Reconciler {
	if log == nil {
		log = slog.Default()
	}
	return &Reconciler{log: log, endpoints: map[string][]policy.Endpoint{}, layers: map[string]Overlay{}}
}

// Bind attaches the server the reconciler serves through.
func (r *Reconciler) Bind(s *Server) { r.server = s }

// NodeGroup maps a node to its group in the current policy (node cluster, then string
// metadata fields against group selectors). It is meant for Options.NodeGroup.
func (r *Reconciler) NodeGroup(node *core.Node) (string, bool) {
	return nodeGroupIn(r.grouping.Load(), node)
}

// nodeGroupIn maps a node to its group in p (none when p is nil).
func nodeGroupIn(p *policy.Policy, node *core.Node) (string, bool) {
	if p == nil {
		return "", false
	}
	return p.NodeGroup(node.GetCluster(), metadataText(node))
}

// metadataText is a node's metadata fields as text, as selectors compare them: strings as
// they are, booleans as true or false and numbers in their shortest decimal form (as Envoy's
// YAML and grpc-go's JSON bootstraps write canary: true or replicas: 2); lists, structs and
// nulls as empty, which no selector value matches but an empty one.
func metadataText(node *core.Node) map[string]string {
	md := map[string]string{}
	for k, v := range node.GetMetadata().GetFields() {
		switch x := v.GetKind().(type) {
		case *structpb.Value_StringValue:
			md[k] = x.StringValue
		case *structpb.Value_BoolValue:
			md[k] = strconv.FormatBool(x.BoolValue)
		case *structpb.Value_NumberValue:
			md[k] = strconv.FormatFloat(x.NumberValue, 'f', -1, 64)
		default:
			md[k] = ""
		}
	}
	return md
}

// Authorize says whether a client whose certificate names the identities (SPIFFE IDs, dns:NAME) may join
// the node group group of the current policy: the group lists an identity one of them
// matches. It is meant for Options.Authorize.
func (r *Reconciler) Authorize(group string, identities []string) bool {
	p := r.grouping.Load()
	return p != nil && p.AdmitsIdentity(group, identities)
}

// Policy returns the last good base policy (without overlay), or nil.
func (r *Reconciler) Policy() *policy.Policy {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.policy
}

// SetPolicy validates p and serves it with the current overlay and endpoints. On failure the
// previous policy stays, foresight_xds_config_reloads_total{result="failure"} counts it and
// the error says why. With Options.Authorize, the streams of clients the new policy no longer
// admits end.
func (r *Reconciler) SetPolicy(ctx context.Context, p *policy.Policy) error {
	if err := r.setPolicy(ctx, p); err != nil {
		return err
	}
	r.server.callbacks.reauthorize()
	return nil
}

func (r *Reconciler) setPolicy(ctx context.Context, p *policy.Policy) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := p.Validate()
	if err == nil {
		err = r.checkHeaderRoutes(p, r.layers)
	}
	if err == nil {
		var c *checked
		c, err = r.prepare(p, r.layers, r.endpoints)
		if errors.Is(err, ErrRejected) {
			err = r.server.refused(err)
		}
		if err == nil {
			// Nodes are grouped by the new policy from now on. Before it is served: a stream
			// whose node moves to another group, or that the policy no longer admits, ends,
			// rather than being served its old group's configuration (or an empty one) or the
			// new one. A stream that begins meanwhile is grouped by one or the other
			// (request checks that its group did not change as it began).
			old := r.policy
			r.grouping.Store(p)
			var admits func(string, []string) bool
			if r.server.callbacks.authorize != nil {
				admits = p.AdmitsIdentity
			}
			kept := func(g string) bool { return p.Group(g) != nil }
			r.server.callbacks.regroup(func(n *core.Node) (string, bool) { return nodeGroupIn(old, n) },
				func(n *core.Node) (string, bool) { return nodeGroupIn(p, n) }, kept, admits)
			if err = r.server.serve(ctx, c); err != nil {
				r.grouping.Store(old)
			}
		}
	}
	if err != nil {
		r.server.metrics.reloads.WithLabelValues("failure").Inc()
		r.log.Error("policy refused; the last good configuration keeps serving", "policy", p.Metadata.Name, "error", err)
		return refusedPolicy(p, err)
	}
	r.server.metrics.reloads.WithLabelValues("success").Inc()
	r.policy = p
	r.log.Info("policy loaded", "policy", p.Metadata.Name, "groups", len(p.Spec.NodeGroups))
	return nil
}

// CheckPolicy says whether SetPolicy would serve p now: it validates p, applies the current
// overlay layers, translates it with the discovered endpoints and checks every node group
// exactly as SetPolicy does, and returns the error SetPolicy would return. It serves, counts
// and logs nothing: the served configuration, its versions and the reload and rejection
// metrics stay as they are. with replaces overlay layers by name for this check only (a nil
// Overlay leaves that layer out), for a caller whose change would also change a layer (the
// experiments of the policy, say); nil checks with the current layers.
func (r *Reconciler) CheckPolicy(ctx context.Context, p *policy.Policy, with map[string]Overlay) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	layers := r.layers
	if len(with) > 0 {
		layers = maps.Clone(r.layers)
		for name, o := range with {
			if o == nil {
				delete(layers, name)
			} else {
				layers[name] = o
			}
		}
	}
	err := p.Validate()
	if err == nil {
		err = r.checkHeaderRoutes(p, layers)
	}
	if err == nil {
		_, err = r.prepare(p, layers, r.endpoints)
	}
	if err != nil {
		return refusedPolicy(p, err)
	}
	return nil
}

// checkHeaderRoutes prepares p with the header routes of all its canaries that have headers,
// whether their rollouts run or not, so that a policy whose header routes could not be
// served (a header regex over the proxies' program size limit, say) is refused when it is
// loaded, not when a rollout starts and its weights could no longer be served. Called with
// r.mu held.
func (r *Reconciler) checkHeaderRoutes(p *policy.Policy, layers map[string]Overlay) error {
	q, err := p.WithAllCanaryHeaderRoutes()
	if err != nil {
		return err
	}
	if q == p {
		return nil
	}
	if _, err := r.prepare(q, layers, r.endpoints); err != nil {
		return fmt.Errorf("with the routes of the canaries' headers: %w", err)
	}
	return nil
}

func refusedPolicy(p *policy.Policy, err error) error {
	return fmt.Errorf("policy %q refused: %w", p.Metadata.Name, err)
}

// SetOverlay replaces the default overlay layer (nil: none) and serves the result; on
// failure the previous overlay stays. It is SetLayer with the name "".
func (r *Reconciler) SetOverlay(ctx context.Context, o Overlay) error {
	return r.SetLayer(ctx, "", o)
}

// SetLayer replaces the named overlay layer (nil removes it) and serves the result; on
// failure the previous layer stays. Layers apply in the order of their names, so independent
// changes (experiment faults, canary weights) compose instead of replacing each other.
func (r *Reconciler) SetLayer(ctx context.Context, name string, o Overlay) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.policy == nil {
		return errors.New("no policy loaded")
	}
	next := maps.Clone(r.layers)
	if o == nil {
		delete(next, name)
	} else {
		next[name] = o
	}
	if err := r.build(ctx, r.policy, next, r.endpoints); err != nil {
		return err
	}
	r.layers = next
	return nil
}

// SetEndpoints replaces the discovered endpoints of one cluster ("name.namespace") and serves
// the result.
func (r *Reconciler) SetEndpoints(ctx context.Context, cluster string, eps []policy.Endpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := maps.Clone(r.endpoints)
	if len(eps) == 0 {
		delete(next, cluster)
	} else {
		next[cluster] = slices.Clone(eps)
	}
	if r.policy != nil {
		if err := r.build(ctx, r.policy, r.layers, next); err != nil {
			return err
		}
	}
	r.endpoints = next
	return nil
}

// build prepares p with layers and eps and serves the result; a configuration the checks
// refuse is counted in foresight_xds_snapshots_rejected_total and logged. Called with r.mu
// held.
func (r *Reconciler) build(ctx context.Context, p *policy.Policy, layers map[string]Overlay, eps map[string][]policy.Endpoint) error {
	c, err := r.prepare(p, layers, eps)
	if errors.Is(err, ErrRejected) {
		return r.server.refused(err)
	}
	if err != nil {
		return err
	}
	return r.server.serve(ctx, c)
}

// prepare applies the overlay layers to p in name order, translates the result, gives its
// kubernetes services the endpoints eps and checks every node group (Server.check): the one
// path of SetPolicy, SetLayer, SetEndpoints and CheckPolicy up to serving. It serves, counts
// and logs nothing; a translation or check that fails returns an error wrapping ErrRejected.
// Called with r.mu held.
func (r *Reconciler) prepare(p *policy.Policy, layers map[string]Overlay, eps map[string][]policy.Endpoint) (*checked, error) {
	for _, name := range slices.Sorted(maps.Keys(layers)) {
		var err error
		if p, err = layers[name](p); err != nil {
			return nil, fmt.Errorf("apply overlay: %w", err)
		}
	}
	groups, err := translate.Translate(p)
	if err != nil {
		return nil, rejected(fmt.Errorf("translate: %w", err))
	}
	kube := map[string]bool{}
	for _, s := range p.Spec.Services {
		if s.Discovery == policy.DiscoveryKubernetes {
			kube[s.ClusterName()] = true
		}
	}
	for _, res := range groups {
		for i, cla := range res.Endpoints {
			if name := cla.GetClusterName(); kube[name] {
				res.Endpoints[i] = translate.LoadAssignment(name, eps[name])
			}
		}
	}
	c, err := r.server.check(groups)
	if err != nil {
		return nil, rejected(err)
	}
	return c, nil
}

// ReloadFailed records a policy reload that failed before SetPolicy (for example a parse
// error): it is counted in foresight_xds_config_reloads_total{result="failure"} and logged.
func (r *Reconciler) ReloadFailed(err error) {
	r.server.metrics.reloads.WithLabelValues("failure").Inc()
	r.log.Error("policy refused; the last good configuration keeps serving", "error", err)
}
