package xds

import (
	"context"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// DefaultClusterWarmTimeout is how long a configuration that adds clusters waits, at most,
// for the proxies to warm them before its listeners and routes refer to them.
const DefaultClusterWarmTimeout = 5 * time.Second

// signalAnswer wakes awaitAnswers: a stream answered a response, or ended. Called with c.mu
// held.
func (c *callbacks) signalAnswer() {
	close(c.answers)
	c.answers = make(chan struct{})
}

// gains says whether next holds a name that prev does not.
func gains[V any](prev, next map[string]V) bool {
	for name := range next {
		if _, had := prev[name]; !had {
			return true
		}
	}
	return false
}

// inSync are the open streams of the groups of want that are subscribed to typeURL and have
// answered every response of that type sent to them: those a new version of the type reaches
// at once, and whose answer to it can be waited for. A stream that has not answered what it
// was sent (a client that never acknowledges), or that let a wait time out since it last
// answered clusters (lagging), is not waited for, nor a delta stream that does not subscribe
// to every cluster (only a change of those it names reaches it).
func (c *callbacks) inSync(want map[string]string, typeURL string) map[*streamState]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[*streamState]string{}
	for i, streams := range []map[int64]*streamState{c.sotw, c.delta} {
		delta := i == 1
		for _, st := range streams {
			v, ok := want[st.group]
			if _, subscribed := st.subscribed[typeURL]; !ok || !subscribed || st.node == nil {
				continue
			}
			if delta && !st.wildcard[typeURL] || st.lagging {
				continue
			}
			if _, pending := st.pending[typeURL]; !pending {
				out[st] = v
			}
		}
	}
	return out
}

// awaitAnswers waits until each of the streams has answered (acknowledged or rejected) the
// version of typeURL given for it, or ended, for at most timeout or until ctx ends. It
// returns how many had not.
func (c *callbacks) awaitAnswers(ctx context.Context, streams map[*streamState]string, typeURL string, timeout time.Duration) int {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		left := 0
		for st, v := range streams {
			if st.ended || st.answered[typeURL] == v {
				delete(streams, st)
				continue
			}
			left++
		}
		answers := c.answers
		c.mu.Unlock()
		if left == 0 {
			return 0
		}
		select {
		case <-answers:
			continue
		case <-timer.C:
		case <-ctx.Done():
		}
		c.mu.Lock()
		left = 0
		for st, v := range streams {
			if !st.ended && st.answered[typeURL] != v {
				st.lagging = true
				left++
			}
		}
		c.mu.Unlock()
		return left
	}
}

// warmNewClusters waits, before the listeners and routes of a configuration refer to the
// clusters it adds, for the proxies of their groups to have warmed them: an Envoy proxy
// acknowledges the clusters once their endpoints came (it holds its acknowledgement while
// a cluster warms), and until then a route to a new cluster finds none. The clusters were
// just served; streams are the streams of the groups that gain clusters that were in sync
// with their clusters (inSync), to the version of the clusters served; what they ask for,
// endpoints first, is answered meanwhile. It waits at most Options.ClusterWarmTimeout, and
// counts and logs a wait that ends before every proxy answered. Called with s.mu held.
func (s *Server) warmNewClusters(ctx context.Context, streams map[*streamState]string) {
	if len(streams) == 0 {
		return
	}
	start := time.Now()
	left := s.callbacks.awaitAnswers(ctx, streams, resourcev3.ClusterType, s.opts.ClusterWarmTimeout)
	s.metrics.clusterWarm.Observe(time.Since(start).Seconds())
	if left > 0 {
		s.metrics.clusterWarmTimeouts.Inc()
		s.log.Warn("proxies did not warm new clusters in time: their listeners and routes are served all the same",
			"proxies", left, "timeout", s.opts.ClusterWarmTimeout)
	}
}
