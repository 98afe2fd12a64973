package xds

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// unservedTypes are the resource types a proxy may ask for on its ADS stream that the
// control plane does not serve, by their metric label; any other type is "other".
var unservedTypes = map[string]string{
	resourcev3.SecretType:          "secret",
	resourcev3.RuntimeType:         "runtime",
	resourcev3.ExtensionConfigType: "extension_config",
	resourcev3.VirtualHostType:     "virtual_host",
	resourcev3.ScopedRouteType:     "scoped_route",
}

// unservedCache answers the requests for resource types the control plane does not serve
// (secrets, runtime layers, extension configs, ... that a proxy's own bootstrap points at
// ADS) as it would a resource that does not exist: never. Only what refers to such a
// resource waits for it, as Envoy does up to its initial fetch timeout; the listeners,
// routes, clusters and endpoints of the same ADS stream keep flowing. Without it the cache
// refuses the watch, which ends the whole stream, again at every reconnection: the proxy
// would never get another update.
type unservedCache struct {
	log      *slog.Logger
	requests *prometheus.CounterVec

	logs logGate // the logs of unserved requests
}

func (u *unservedCache) note(typeURL string, nodeID string) {
	label, ok := unservedTypes[typeURL]
	if !ok {
		label = "other"
	}
	u.requests.WithLabelValues(label).Inc()
	if u.logs.due(time.Now()) {
		u.log.Warn("a proxy asked for a resource type the control plane does not serve; left unanswered (further ones within "+refusalLogInterval.String()+" are only counted)",
			"type_url", clipLabel(typeURL), "node", clipLabel(nodeID))
	}
}

// CreateWatch implements cachev3.ConfigWatcher: the watch is held and never answered.
func (u *unservedCache) CreateWatch(r *cachev3.Request, _ cachev3.Subscription, _ chan cachev3.Response) (func(), error) {
	u.note(r.GetTypeUrl(), r.GetNode().GetId())
	return func() {}, nil
}

// CreateDeltaWatch implements cachev3.ConfigWatcher: the watch is held and never answered.
func (u *unservedCache) CreateDeltaWatch(r *cachev3.DeltaRequest, _ cachev3.Subscription, _ chan cachev3.DeltaResponse) (func(), error) {
	u.note(r.GetTypeUrl(), r.GetNode().GetId())
	return func() {}, nil
}

// Fetch implements cachev3.ConfigFetcher; REST xDS is refused before it gets here.
func (u *unservedCache) Fetch(_ context.Context, r *cachev3.Request) (cachev3.Response, error) {
	return nil, fmt.Errorf("resource type %s is not served", clipLabel(r.GetTypeUrl()))
}
