package forecast

import (
	"math"
	"runtime"
	"testing"
	"time"
)

// A ring behaves the same whether its storage is on the heap or mapped off
// it, and mapped storage is released once the ring is unreachable.
func TestRingStorageOnAndOffHeap(t *testing.T) {
	capacity := 20160 // 14 days at 1m: off the heap on Linux
	before := OffHeapHistoryBytes()
	big := newRing(capacity)
	if runtime.GOOS == "linux" && OffHeapHistoryBytes() <= before {
		t.Fatalf("a %d-step ring was not mapped off the heap", capacity)
	}
	heap := &ring{vals: make([]float32, capacity), obs: make([]uint64, (capacity+63)/64)}
	for i := range 3*capacity/2 + 7 {
		v := math.Sin(float64(i)/50) * 100
		big.push(v, i%7 != 0)
		heap.push(v, i%7 != 0)
	}
	for _, k := range []int{0, 1, 63, 64, 65, capacity / 2, capacity - 1, capacity, -1} {
		if a, b := big.back(k), heap.back(k); a != b && !(math.IsNaN(a) && math.IsNaN(b)) {
			t.Errorf("back(%d) = %v off heap, %v on heap", k, a, b)
		}
		if a, b := big.observedBack(k), heap.observedBack(k); a != b {
			t.Errorf("observedBack(%d) = %v off heap, %v on heap", k, a, b)
		}
	}
	y1, o1 := big.copyOut()
	y2, o2 := heap.copyOut()
	for i := range y1 {
		if y1[i] != y2[i] || o1[i] != o2[i] {
			t.Fatalf("copyOut differs at %d", i)
		}
	}
	big.reset()
	if big.len() != 0 || big.observedBack(0) {
		t.Error("reset ring not empty")
	}

	// Unreachable rings give their mappings back.
	for range 50 {
		newRing(capacity).push(1, true)
	}
	deadline := time.Now().Add(10 * time.Second)
	for OffHeapHistoryBytes() > before+int64(4*capacity+8*((capacity+63)/64)) {
		if time.Now().After(deadline) {
			t.Fatalf("off-heap history %d bytes, want at most one ring over %d", OffHeapHistoryBytes(), before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(big)
}
