package forecast

import (
	"math"
	"runtime"
	"sync/atomic"
)

// ring is a compact fixed-capacity history of one series: float32 values
// (gaps filled with the imputed value) and a bitset telling which steps were
// really observed. Index 0 of back() is the latest step.
type ring struct {
	vals []float32
	obs  []uint64
	head int // position of the next write
	n    int // steps stored, <= len(vals)
}

// offHeapBytes is the history storage mapped outside the Go heap.
var offHeapBytes atomic.Int64

// OffHeapHistoryBytes returns the bytes of series history currently stored
// outside the Go heap (Linux only; see history_offheap_linux.go). They count
// in the process's resident memory but not in the Go heap.
func OffHeapHistoryBytes() int64 { return offHeapBytes.Load() }

func newRing(capacity int) *ring {
	if capacity < 1 {
		capacity = 1
	}
	r := &ring{}
	words := (capacity + 63) / 64
	if !allocOffHeap(r, capacity, words) {
		r.vals, r.obs = make([]float32, capacity), make([]uint64, words)
	}
	return r
}

// push appends one step.
func (r *ring) push(v float64, observed bool) {
	r.vals[r.head] = float32(v)
	w, b := r.head/64, uint(r.head%64)
	if observed {
		r.obs[w] |= 1 << b
	} else {
		r.obs[w] &^= 1 << b
	}
	r.head++
	if r.head == len(r.vals) {
		r.head = 0
	}
	if r.n < len(r.vals) {
		r.n++
	}
}

func (r *ring) len() int { return r.n }

func (r *ring) pos(k int) int {
	i := r.head - 1 - k
	if i < 0 {
		i += len(r.vals)
	}
	return i
}

// back returns the value k steps before the latest (k = 0 is the latest).
// It returns NaN when k is outside the stored history.
func (r *ring) back(k int) float64 {
	if k < 0 || k >= r.n {
		return math.NaN()
	}
	v := r.vals[r.pos(k)]
	runtime.KeepAlive(r) // the storage may be off the heap (history_offheap_linux.go)
	return float64(v)
}

// observedBack reports whether the step k steps before the latest was observed.
func (r *ring) observedBack(k int) bool {
	if k < 0 || k >= r.n {
		return false
	}
	i := r.pos(k)
	o := r.obs[i/64]&(1<<uint(i%64)) != 0
	runtime.KeepAlive(r)
	return o
}

// copyOut returns the stored history oldest first, with its observed mask.
func (r *ring) copyOut() ([]float64, []bool) {
	y := make([]float64, r.n)
	obs := make([]bool, r.n)
	for i := 0; i < r.n; i++ {
		k := r.n - 1 - i
		y[i] = r.back(k)
		obs[i] = r.observedBack(k)
	}
	return y, obs
}

// reset empties the history.
func (r *ring) reset() {
	r.head, r.n = 0, 0
	clear(r.obs)
	runtime.KeepAlive(r)
}

func (r *ring) bytes() int { return 4*len(r.vals) + 8*len(r.obs) + 48 }

// ringFrom builds a ring of the given capacity holding y (oldest first).
func ringFrom(y []float64, obs []bool, capacity int) *ring {
	r := newRing(capacity)
	for i := range y {
		r.push(y[i], obs[i])
	}
	return r
}
