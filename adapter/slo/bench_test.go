package slo

import (
	"testing"
	"time"
)

// BenchmarkHourOfSamples is the cost of one series' SLO controller per hour
// of one-minute samples, its window full: 60 Observe calls and the
// evaluation they trigger (the default week's window replayed through the
// HPA model about ten times for the model's utilisation, twice for the
// status).
func BenchmarkHourOfSamples(b *testing.B) {
	c := baseConfig()
	ctrl, err := New(c)
	if err != nil {
		b.Fatal(err)
	}
	load := dailyLoad(9, 20)
	i := 0
	observe := func() {
		l := load(i)
		if err := ctrl.Observe(1_700_000_000+int64(i)*60, l, 1.1*l, false); err != nil {
			b.Fatal(err)
		}
		i++
	}
	for range int(ctrl.Config().Window / time.Minute) {
		observe()
	}
	b.ReportAllocs()
	for b.Loop() {
		for range 60 {
			observe()
		}
	}
	b.ReportMetric(float64(ctrl.Bytes()), "state-bytes")
}
