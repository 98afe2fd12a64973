package memlimit

import (
	"context"
	"math"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeRuntime stands for debug.SetMemoryLimit: it counts the limits set.
type fakeRuntime struct {
	limit int64
	sets  int
}

func (f *fakeRuntime) set(l int64) int64 {
	old := f.limit
	if l >= 0 {
		f.limit = l
		f.sets++
	}
	return old
}

func TestNoConfiguredLimitNoKeeper(t *testing.T) {
	rt := &fakeRuntime{limit: math.MaxInt64}
	if k := newKeeper(rt.set, func() int64 { return 1 << 20 }); k != nil {
		t.Fatalf("keeper %+v without a configured limit, want nil", k)
	}
	if rt.sets != 0 {
		t.Errorf("runtime limit set %d times, want untouched", rt.sets)
	}
}

func TestAdjustSubtractsMemoryOutsideTheRuntime(t *testing.T) {
	const total = 512 << 20
	rt := &fakeRuntime{limit: total}
	var outside atomic.Int64
	k := newKeeper(rt.set, outside.Load)
	for _, tc := range []struct {
		name          string
		outside, want int64
	}{
		{"nothing outside", 0, total},
		{"history of 1,000 series x 14 days", 82 << 20, total - 82<<20},
		{"history freed", 10 << 20, total - 10<<20},
		{"outside takes three quarters: floor", 400 << 20, total / 4},
		{"outside exceeds the limit: floor", 600 << 20, total / 4},
	} {
		outside.Store(tc.outside)
		if got := k.Adjust(); got != tc.want || rt.limit != tc.want || k.Limit() != tc.want {
			t.Errorf("%s: Adjust = %d, runtime limit %d, Limit() %d; want %d", tc.name, got, rt.limit, k.Limit(), tc.want)
		}
	}
	sets := rt.sets
	k.Adjust()
	if rt.sets != sets {
		t.Errorf("an unchanged limit was set again (%d sets, want %d)", rt.sets, sets)
	}
	if k.Total() != total {
		t.Errorf("Total = %d, want %d", k.Total(), total)
	}
}

func TestRunFollowsAndRestores(t *testing.T) {
	const total = 256 << 20
	rt := &fakeRuntime{limit: total}
	var outside atomic.Int64
	outside.Store(16 << 20)
	k := newKeeper(rt.set, outside.Load)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Run(ctx, time.Millisecond); close(done) }()
	waitFor(t, func() bool { return k.Limit() == total-16<<20 })
	outside.Store(32 << 20)
	waitFor(t, func() bool { return k.Limit() == total-32<<20 })
	cancel()
	<-done
	if rt.limit != total || k.Limit() != total {
		t.Errorf("after Run: runtime limit %d, Limit() %d; want the configured %d restored", rt.limit, k.Limit(), total)
	}
}

// With the real runtime: the limit the Keeper sets is the one the garbage
// collector uses, and the gauges report it.
func TestKeeperSetsTheRuntimeLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	if k := New(func() int64 { return 0 }); before == math.MaxInt64 && k != nil {
		t.Fatal("keeper without a configured limit")
	}
	const total = 1 << 30
	debug.SetMemoryLimit(total)
	k := New(func() int64 { return 100 << 20 })
	if k == nil {
		t.Fatal("no keeper with a configured limit")
	}
	k.Adjust()
	if got := debug.SetMemoryLimit(-1); got != total-100<<20 {
		t.Errorf("runtime limit %d, want %d", got, total-100<<20)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(k.Collectors()...)
	want := `
# HELP foresight_adapter_go_memory_limit_bytes The Go runtime's soft memory limit: the configured limit minus the memory held outside the Go heap (series history), at least a quarter of it.
# TYPE foresight_adapter_go_memory_limit_bytes gauge
foresight_adapter_go_memory_limit_bytes 9.68884224e+08
# HELP foresight_adapter_memory_limit_bytes Memory limit configured for the process (GOMEMLIMIT), which the Go heap and the memory outside it share.
# TYPE foresight_adapter_memory_limit_bytes gauge
foresight_adapter_memory_limit_bytes 1.073741824e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
