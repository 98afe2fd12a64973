package slo

// history is a controller's window: its latest samples, at most a fixed
// number, oldest first. Per sample it stores only what nothing else gives:
// the load and the served value (float32) and one bit for the class of the
// served value (a model's forecast or the reactive fallback), 8 bytes and a
// bit a step. The rest is recorded only where it changes:
//
//   - timestamps: a sample is one step after the previous one unless a jump
//     records its distance (a gap, or a timestamp off the step grid);
//   - utilisations: they change only at evaluations, so each change is
//     recorded with the first sample it applies to.
//
// Jumps and changes are kept only while a sample of the window needs them:
// at most one of each per sample, so the window bounds them too.
//
// The load is kept although the series' forecaster holds it too: the window
// is the latest samples, which span more time than the forecaster's history
// when gaps fall in it (and the forecaster forgets its history after a gap
// longer than it), and the backtest runs the controller after its
// forecasters, on the served values they recorded.
type history struct {
	step   int64 // seconds
	load   []float32
	served []float32
	model  []uint64 // bitset by ring slot: a model's forecast was served
	head   int      // ring slot of the oldest sample
	n      int      // samples held

	seq   int64 // sequence number of the next sample (all samples ever pushed)
	first int64 // timestamp of the oldest sample held
	last  int64 // timestamp of the latest sample pushed

	jumps queue[jump]
	utils queue[utilChange]
}

// jump records that sample seq came dt seconds after the previous one (dt
// not one step).
type jump struct{ seq, dt int64 }

// utilChange records the utilisations in force from sample from on.
type utilChange struct {
	from            int64
	model, fallback float32
}

// sample is one sample of the window as the evaluation reads it.
type sample struct {
	ts           int64
	load, served float32
	// util is the utilisation the served value was served at (its class's).
	util  float32
	model bool
}

func newHistory(capacity int, stepSec int64, u, uf float64) *history {
	h := &history{
		step: stepSec, load: make([]float32, capacity), served: make([]float32, capacity),
		model: make([]uint64, (capacity+63)/64),
	}
	h.utils.push(utilChange{from: 0, model: float32(u), fallback: float32(uf)})
	return h
}

func (h *history) len() int { return h.n }

// span is the time from the oldest sample held to the latest.
func (h *history) span() int64 {
	if h.n == 0 {
		return 0
	}
	return h.last - h.first
}

// push appends a sample after the latest (ts later than it), dropping the
// oldest when the window is full.
func (h *history) push(ts int64, load, served float64, model bool) {
	if h.n == len(h.load) {
		h.dropOldest()
	}
	switch {
	case h.n == 0:
		h.first = ts
	case ts-h.last != h.step:
		h.jumps.push(jump{seq: h.seq, dt: ts - h.last})
	}
	i := h.slot(h.n)
	h.load[i], h.served[i] = float32(load), float32(served)
	w, b := i/64, uint(i%64)
	if model {
		h.model[w] |= 1 << b
	} else {
		h.model[w] &^= 1 << b
	}
	h.n++
	h.seq++
	h.last = ts
}

// dropOldest forgets the oldest sample and what only it needed.
func (h *history) dropOldest() {
	h.head = h.slot(1)
	h.n--
	// The oldest sample now (the next one fed, when none is left).
	oldest := h.seq - int64(h.n)
	if h.n > 0 {
		dt := h.step
		if h.jumps.len() > 0 && h.jumps.at(0).seq == oldest {
			dt = h.jumps.at(0).dt
		}
		h.first += dt
	}
	for h.jumps.len() > 0 && h.jumps.at(0).seq <= oldest {
		h.jumps.pop()
	}
	for h.utils.len() > 1 && h.utils.at(1).from <= oldest {
		h.utils.pop()
	}
}

// setUtil records the utilisations in force from the next sample on.
func (h *history) setUtil(u, uf float64) {
	c := utilChange{from: h.seq, model: float32(u), fallback: float32(uf)}
	if last := h.utils.at(h.utils.len() - 1); last.model == c.model && last.fallback == c.fallback {
		return
	}
	h.utils.push(c)
}

func (h *history) slot(k int) int { return (h.head + k) % len(h.load) }

// each calls fn with the samples held, oldest first.
func (h *history) each(fn func(k int, s sample)) {
	ts := h.first
	seq := h.seq - int64(h.n)
	j, u := 0, 0
	for k := range h.n {
		if k > 0 {
			if j < h.jumps.len() && h.jumps.at(j).seq == seq {
				ts += h.jumps.at(j).dt
				j++
			} else {
				ts += h.step
			}
		}
		for u+1 < h.utils.len() && h.utils.at(u+1).from <= seq {
			u++
		}
		i := h.slot(k)
		s := sample{ts: ts, load: h.load[i], served: h.served[i], model: h.model[i/64]&(1<<uint(i%64)) != 0}
		s.util = h.utils.at(u).fallback
		if s.model {
			s.util = h.utils.at(u).model
		}
		fn(k, s)
		seq++
	}
}

// bytes is the memory the window holds.
func (h *history) bytes() int {
	return 4*(len(h.load)+len(h.served)) + 8*len(h.model) + 16*cap(h.jumps.buf) + 16*cap(h.utils.buf) + 96
}

// queue is a first-in first-out list whose storage is reused: the items
// still queued move to the front when the storage is full.
type queue[T any] struct {
	buf  []T
	head int
}

func (q *queue[T]) len() int   { return len(q.buf) - q.head }
func (q *queue[T]) at(i int) T { return q.buf[q.head+i] }
func (q *queue[T]) push(v T) {
	if q.head > 0 && len(q.buf) == cap(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		q.buf, q.head = q.buf[:n], 0
	}
	q.buf = append(q.buf, v)
}

func (q *queue[T]) pop() {
	q.head++
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	}
}
