package xds

import (
	"strings"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// resubscribing is a cache whose delta watches answer every name a request subscribes to, as
// the protocol asks: a name the client already holds is sent again ("the server must still
// provide those resources in the response"), and a name that does not exist is named among
// the removed resources (endpoint names outside the node group's are left out of the request
// before: keepInScope). go-control-plane's caches send only what changed against the
// versions the stream returned, and skip names they do not hold; so before the watch is
// made, each name the request subscribes to by name (not a wildcard or a glob, nor one of the
// initial resource versions a reconnecting client names) is marked as returned with no
// version: the cache then sends it, or reports it removed. State of the world watches are
// the cache's own.
type resubscribing struct {
	cachev3.Cache
}

// CreateDeltaWatch implements cachev3.ConfigWatcher.
func (r resubscribing) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	if names := req.GetResourceNamesSubscribe(); len(names) > 0 {
		// The stream's own map of the versions it returned: the stream and this watch are
		// its only users until the watch is made.
		returned := sub.ReturnedResources()
		initial := req.GetInitialResourceVersions()
		for _, n := range names {
			if _, held := initial[n]; held || strings.HasSuffix(n, "*") || returned == nil {
				continue
			}
			returned[n] = ""
		}
	}
	return r.Cache.CreateDeltaWatch(req, sub, ch)
}
