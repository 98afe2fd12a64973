package xds

import (
	"sync"
	"time"
)

// refusalLogInterval spaces the logs of one kind of refusal: a flood of them is counted in
// the metrics, logged at most once per interval.
const refusalLogInterval = time.Second

// logGate lets one log of a kind through per refusalLogInterval; the others are only counted.
type logGate struct {
	mu   sync.Mutex
	last time.Time // when a log was last let through
}

// due says whether a log at now goes through, and if so starts the next interval.
func (g *logGate) due(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.last) < refusalLogInterval {
		return false
	}
	g.last = now
	return true
}
