package main

import (
	"testing"
	"time"
)

func TestDataClock(t *testing.T) {
	now, interval, err := dataClock("", 1)
	if err != nil || now != nil || interval != 0 {
		t.Fatalf("default clock = (%v, %v, %v), want wall clock", now != nil, interval, err)
	}
	now, interval, err = dataClock("2021-06-01T00:00:00Z", 60)
	if err != nil {
		t.Fatal(err)
	}
	if interval != time.Second {
		t.Errorf("interval at 60x = %v, want 1s", interval)
	}
	start := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)
	time.Sleep(20 * time.Millisecond)
	if got := now(); !got.After(start.Add(time.Second)) || got.After(start.Add(time.Hour)) {
		t.Errorf("data clock after 20ms at 60x = %v, want just over a second past %v", got, start)
	}
	for _, bad := range []struct {
		start string
		speed float64
	}{{"", 0}, {"", -2}, {"yesterday", 10}} {
		if _, _, err := dataClock(bad.start, bad.speed); err == nil {
			t.Errorf("dataClock(%q, %v) accepted", bad.start, bad.speed)
		}
	}
}
