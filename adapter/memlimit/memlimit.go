// Package memlimit keeps the Go runtime's soft memory limit (GOMEMLIMIT) a
// limit on the whole process when part of the process's memory lies outside
// the runtime's accounting.
//
// The forecaster keeps series history in memory mapped outside the Go heap
// (forecast.OffHeapHistoryBytes), which the runtime does not count against
// its limit. With GOMEMLIMIT set to a container's memory limit, as the
// adapter's Deployment sets it, the heap could then grow into the memory the
// history already holds, and the kernel would kill the container before the
// garbage collector worked harder. A Keeper lowers the runtime's limit by the
// memory outside it, so that both together stay under the configured limit.
package memlimit

import (
	"context"
	"math"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultInterval is how often Run adjusts the limit.
const DefaultInterval = time.Second

// Keeper keeps the runtime's soft memory limit at the configured limit minus
// the memory held outside the runtime's accounting.
type Keeper struct {
	total   int64
	outside func() int64
	set     func(int64) int64 // debug.SetMemoryLimit

	mu      sync.Mutex
	current int64
}

// New returns a Keeper for the soft memory limit configured when it is
// called (GOMEMLIMIT, or debug.SetMemoryLimit before), with outside
// reporting the bytes the process holds outside the runtime's accounting.
// It returns nil when no limit is configured: there is nothing to keep.
func New(outside func() int64) *Keeper {
	return newKeeper(debug.SetMemoryLimit, outside)
}

func newKeeper(set func(int64) int64, outside func() int64) *Keeper {
	total := set(-1)
	if total == math.MaxInt64 {
		return nil
	}
	return &Keeper{total: total, outside: outside, set: set, current: total}
}

// Total returns the configured limit the Keeper keeps the process under.
func (k *Keeper) Total() int64 { return k.total }

// Adjust sets the runtime's limit to the configured limit minus the memory
// outside it, but never below a quarter of the configured limit: when the
// memory outside the runtime takes more than three quarters, a lower limit
// would have the garbage collector run without end and still not keep the
// process under the limit. It returns the limit it set.
func (k *Keeper) Adjust() int64 {
	limit := max(k.total-k.outside(), k.total/4)
	k.mu.Lock()
	defer k.mu.Unlock()
	if limit != k.current {
		k.set(limit)
		k.current = limit
	}
	return limit
}

// Limit returns the runtime's limit as the Keeper last set it.
func (k *Keeper) Limit() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.current
}

// Run adjusts the limit now and then every interval until ctx is done, and
// then restores the configured limit.
func (k *Keeper) Run(ctx context.Context, interval time.Duration) {
	k.Adjust()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			k.mu.Lock()
			k.set(k.total)
			k.current = k.total
			k.mu.Unlock()
			return
		case <-t.C:
			k.Adjust()
		}
	}
}

// Collectors returns gauges of the configured limit and of the runtime's
// limit as the Keeper keeps it.
func (k *Keeper) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "foresight_adapter_memory_limit_bytes",
			Help: "Memory limit configured for the process (GOMEMLIMIT), which the Go heap and the memory outside it share.",
		}, func() float64 { return float64(k.total) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "foresight_adapter_go_memory_limit_bytes",
			Help: "The Go runtime's soft memory limit: the configured limit minus the memory held outside the Go heap (series history), at least a quarter of it.",
		}, func() float64 { return float64(k.Limit()) }),
	}
}
