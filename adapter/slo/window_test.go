package slo

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestHistoryHoldsTheLatestSamples feeds windows of several sizes with
// samples on the step grid, gaps of several steps, timestamps off the grid
// and utilisation changes at random moments, far past their capacity (the
// ring wraps many times), and checks after every sample that the window
// reads back exactly the latest samples as fed: timestamp, load, served
// value, class and the utilisation in force when each was fed.
func TestHistoryHoldsTheLatestSamples(t *testing.T) {
	for _, capacity := range []int{1, 2, 63, 64, 65, 200} {
		rng := rand.New(rand.NewPCG(uint64(capacity), 7))
		const step = 60
		u, uf := 0.7, 0.7
		h := newHistory(capacity, step, u, uf)
		var fed []sample
		ts := int64(1_700_000_000)
		for i := range 20 * capacity {
			switch rng.IntN(20) {
			case 0: // a gap of several steps
				ts += step * int64(2+rng.IntN(500))
			case 1: // off the grid
				ts += 1 + rng.Int64N(3*step)
			default:
				ts += step
			}
			s := sample{ts: ts, load: float32(rng.Float64() * 100), served: float32(rng.Float64() * 100), model: rng.IntN(3) > 0}
			s.util = float32(uf)
			if s.model {
				s.util = float32(u)
			}
			h.push(s.ts, float64(s.load), float64(s.served), s.model)
			fed = append(fed, s)
			if rng.IntN(4) == 0 { // an evaluation moved one utilisation or both
				if rng.IntN(2) == 0 {
					u = 0.3 + rng.Float64()
				}
				if rng.IntN(2) == 0 {
					uf = 0.3 + rng.Float64()
				}
				h.setUtil(u, uf)
			}
			want := fed[max(0, len(fed)-capacity):]
			if h.len() != len(want) {
				t.Fatalf("capacity %d, after %d samples: holds %d, want %d", capacity, i+1, h.len(), len(want))
			}
			h.each(func(k int, got sample) {
				if got != want[k] {
					t.Fatalf("capacity %d, after %d samples: sample %d reads %+v, fed %+v", capacity, i+1, k, got, want[k])
				}
			})
			if span := want[len(want)-1].ts - want[0].ts; h.span() != span {
				t.Fatalf("capacity %d, after %d samples: span %d, want %d", capacity, i+1, h.span(), span)
			}
			// Jumps and utilisation changes are kept only while a sample needs them.
			if h.jumps.len() > h.len() || h.utils.len() > h.len()+1 {
				t.Fatalf("capacity %d: %d jumps and %d utilisation changes kept for %d samples", capacity, h.jumps.len(), h.utils.len(), h.len())
			}
		}
		if c := cap(h.jumps.buf) + cap(h.utils.buf); c > 4*capacity+16 {
			t.Errorf("capacity %d: storage for %d jumps and changes, want it bounded by the window", capacity, c)
		}
	}
}

// TestWindowBytes: a full week at one minute on the step grid holds 8 bytes
// and a bit a step, a fraction of what a timestamp and a utilisation per
// sample would take (21 bytes a step), and a gap adds only its jump.
func TestWindowBytes(t *testing.T) {
	c := baseConfig()
	c.Every = 12 * time.Hour // fewer evaluations: the test is about storage
	ctrl, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	steps := int(ctrl.Config().Window / time.Minute)
	load := dailyLoad(3, 10)
	ts := int64(1_700_002_800)
	for i := range steps + 180 {
		ts += 60
		if i == steps/2 {
			ts += 3600 // an hour missing
		}
		if err := ctrl.Observe(ts, load(i), 1.1*load(i), i%7 == 0); err != nil {
			t.Fatal(err)
		}
	}
	if ctrl.Status().Evaluations == 0 {
		t.Fatal("no evaluation ran")
	}
	perStep := float64(ctrl.Bytes()) / float64(steps)
	if perStep > 9 {
		t.Errorf("%d bytes for a window of %d steps: %.2f a step, want at most 9", ctrl.Bytes(), steps, perStep)
	}
	if ctrl.win.jumps.len() != 1 {
		t.Errorf("%d jumps recorded for one gap", ctrl.win.jumps.len())
	}
}

func TestQueueReusesItsStorage(t *testing.T) {
	var q queue[int]
	next, want := 0, 0
	for i := range 10_000 {
		q.push(next)
		next++
		if i%3 != 2 && q.len() > 0 || q.len() > 40 {
			if q.at(0) != want {
				t.Fatalf("popped %d, want %d", q.at(0), want)
			}
			q.pop()
			want++
		}
		if cap(q.buf) > 128 {
			t.Fatalf("storage grew to %d for at most 41 items", cap(q.buf))
		}
	}
}
