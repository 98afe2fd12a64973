package forecast

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"
	"time"
)

// FuzzObserveServe feeds arbitrary (gap, value) sequences to a small
// forecaster that refits often: it must never panic, must accept every
// finite sample after the previous one, and must serve a finite value no
// lower than the observed one. The observed value is the latest sample,
// or, while the spike filter is on, the median of the latest three steps:
// never outside the range of the last three samples (the steps of a gap
// lie between the samples around it).
func FuzzObserveServe(f *testing.F) {
	f.Add([]byte{1, 0, 10, 1, 0, 20, 1, 0, 30, 5, 0, 0, 1, 255, 255})
	f.Add(make([]byte, 300))
	seed := make([]byte, 0, 600)
	for i := 0; i < 200; i++ {
		seed = append(seed, 1, byte(100+50*math.Sin(float64(i)/5)), byte(i))
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		st := Settings{Step: time.Minute, WarmUp: 20 * time.Minute, History: 3 * time.Hour, RefitInterval: 30 * time.Minute}
		fc, err := NewForecaster(st)
		if err != nil {
			t.Fatal(err)
		}
		// batched is fed the same samples in batches with refits deferred
		// to the end of each, as the serving loop feeds it: after each
		// batch it serves what fc serves.
		batched, err := NewForecaster(st)
		if err != nil {
			t.Fatal(err)
		}
		batched.DeferRefits()
		ts := int64(1_000_000)
		var recent []float64 // the last three samples
		for i := 0; i+3 <= len(data); i += 3 {
			gap := int64(data[i]%8) + 1
			if data[i] == 255 {
				gap = 400 // longer than the history: a reset
			}
			v := float64(binary.LittleEndian.Uint16(data[i+1:])) / 8
			ts += gap * 60
			if err := fc.Observe(ts, v); err != nil {
				t.Fatalf("step %d: finite sample rejected: %v", i/3, err)
			}
			if recent = append(recent, v); len(recent) > 3 {
				recent = recent[1:]
			}
			got := fc.Serve()
			if !isFinite(got.Value) || got.Value < got.Observed || got.At != ts {
				t.Fatalf("step %d: served %+v after sample %v at %d", i/3, got, v, ts)
			}
			if !got.SpikesFiltered && got.Observed != v {
				t.Fatalf("step %d: observed %v, want the sample %v (no spike filter)", i/3, got.Observed, v)
			}
			if got.SpikesFiltered && (got.Observed < slices.Min(recent) || got.Observed > slices.Max(recent)) {
				t.Fatalf("step %d: observed %v through the spike filter, outside the last samples %v", i/3, got.Observed, recent)
			}
			if err := batched.Observe(ts, v); err != nil {
				t.Fatalf("step %d: batched: %v", i/3, err)
			}
			if data[i]&0x30 == 0 || i+6 > len(data) { // the end of a batch
				batched.ResumeRefits()
				if b := batched.Serve(); served(b) != served(got) {
					t.Fatalf("step %d: fed in batches served %+v, fed one by one %+v", i/3, b, got)
				}
				batched.DeferRefits()
			}
		}
	})
}
