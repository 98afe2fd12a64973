package forecast

import (
	"math"
	"runtime"
	"sync/atomic"
)

// ring is a compact fixed-capacity history of one series: float32 values
// (gaps filled with the imputed value) and a bitset telling which steps were
// really observed. Index 0 of back() is the latest step. With median set,
// back() reads each step as the median of it and the two steps before it
// (the oldest two steps stored read as themselves); raw() reads the
// samples as stored.
type ring struct {
	vals   []float32
	obs    []uint64
	head   int  // position of the next write
	n      int  // steps stored, <= len(vals)
	median bool // back() reads the running median of three
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

// back returns the value k steps before the latest (k = 0 is the latest),
// as the models read it (see median). It returns NaN when k is outside the
// stored history.
func (r *ring) back(k int) float64 {
	if !r.median || k+2 >= r.n {
		return r.raw(k)
	}
	return medianOfThree(r.raw(k), r.raw(k+1), r.raw(k+2))
}

// raw returns the sample stored k steps before the latest, NaN when k is
// outside the stored history.
func (r *ring) raw(k int) float64 {
	if k < 0 || k >= r.n {
		return math.NaN()
	}
	v := r.vals[r.pos(k)]
	runtime.KeepAlive(r) // the storage may be off the heap (history_offheap_linux.go)
	return float64(v)
}

// readNext returns what back(0) reads after push(v).
func (r *ring) readNext(v float64) float64 {
	x := float64(float32(v))
	if !r.median || r.n < 2 {
		return x
	}
	return medianOfThree(x, r.raw(0), r.raw(1))
}

// medianOfThree returns the median of a, b and c.
func medianOfThree(a, b, c float64) float64 {
	return math.Max(math.Min(a, b), math.Min(math.Max(a, b), c))
}

// medianOfThreeCopy returns y with each step from the third on replaced by
// the median of it and the two steps before it: what a ring holding y
// reads with median set.
func medianOfThreeCopy(y []float64) []float64 {
	out := make([]float64, len(y))
	for i := range y {
		out[i] = y[i]
		if i >= 2 {
			out[i] = medianOfThree(y[i], y[i-1], y[i-2])
		}
	}
	return out
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

// copyOut returns the stored samples (raw) oldest first, with their observed mask.
func (r *ring) copyOut() ([]float64, []bool) {
	y := make([]float64, r.n)
	obs := make([]bool, r.n)
	for i := 0; i < r.n; i++ {
		k := r.n - 1 - i
		y[i] = r.raw(k)
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

// ringFrom builds a ring of the given capacity holding y (oldest first),
// read through the median of three when median is set.
func ringFrom(y []float64, obs []bool, capacity int, median bool) *ring {
	r := newRing(capacity)
	r.median = median
	for i := range y {
		r.push(y[i], obs[i])
	}
	return r
}

// backer reads a series backwards: back(k) is the value k steps before the
// latest one, len the number of steps available.
type backer interface {
	back(k int) float64
	len() int
}

// sliceBacker reads y[:end] backwards.
type sliceBacker struct {
	y   []float64
	end int
}

func (s sliceBacker) back(k int) float64 { return s.y[s.end-1-k] }
func (s sliceBacker) len() int           { return s.end }
