package forecast

import (
	"runtime"
	"syscall"
	"unsafe"
)

// offHeapMinBytes is the size of history from which a ring's storage is
// mapped outside the Go heap: 14 days at one-minute steps are 82 KB.
//
// Why: a series' history is long-lived, pointer-free data that the garbage
// collector never frees while the series lives, but counted in the heap it
// raises the collector's goal (GOGC=100: twice the live heap) by as much
// again. 1,000 series with 14 days of history kept 82 MB in rings; on the
// heap that let the process grow to about 290 MB under request load, of
// which about 80 MB was headroom for garbage the rings never produce. Off the
// heap the goal follows only the memory that is really collected.
//
// Smaller rings stay on the heap: a mapping costs at least a page and one of
// the kernel's vm.max_map_count entries. If a mapping fails (for example that
// limit is reached), the ring falls back to the heap.
const offHeapMinBytes = 32 << 10

// allocOffHeap maps zeroed storage for capacity values and words mask words
// into r and arranges for it to be unmapped once r is unreachable. It
// reports false, leaving r untouched, when the storage is small or the
// mapping fails.
//
// Every access to the storage goes through r's methods, which keep r alive
// until they are done with it (runtime.KeepAlive), and no slice of it leaves
// the ring (copyOut copies), so the storage is never used after it is unmapped.
func allocOffHeap(r *ring, capacity, words int) bool {
	size := 4*capacity + 8*words
	if size < offHeapMinBytes {
		return false
	}
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return false
	}
	// The mask words first: the mapping is page-aligned, so both slices are aligned.
	r.obs = unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), words)
	r.vals = unsafe.Slice((*float32)(unsafe.Pointer(&mem[8*words])), capacity)
	offHeapBytes.Add(int64(size))
	runtime.AddCleanup(r, func(mem []byte) {
		if syscall.Munmap(mem) == nil {
			offHeapBytes.Add(-int64(len(mem)))
		}
	}, mem)
	return true
}
