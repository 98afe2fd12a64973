package queue

import (
	"math"
	"testing"
	"time"
)

var params = Params{Throughput: 2, DrainTime: 5 * time.Minute, WakeLead: 90 * time.Second, CoolDown: 5 * time.Minute}

func TestDemand(t *testing.T) {
	for _, c := range []struct {
		name     string
		in       Input
		lastBusy int64
		want     float64
		reason   Reason
	}{
		// 600 items / (2/s * 300 s) = 1 worker to drain, + 10/s / 2 = 5 for arrivals.
		{"drain plus arrivals", Input{At: 1000, Backlog: 600, Predicted: 10}, 1000, 6, ReasonWork},
		{"arrivals only", Input{At: 1000, Predicted: 7}, 1000, 3.5, ReasonWork},
		{"a small backlog still needs one worker", Input{At: 1000, Backlog: 1}, 0, 1, ReasonWork},
		{"never zero with a backlog, even long idle", Input{At: 100000, Backlog: 3}, 1, 1, ReasonWork},
		// 0.02/s over 90 s is 1.8 items: expected, so the demand wakes to 1.
		{"wake before predicted arrivals", Input{At: 100000, Predicted: 0.02}, 1, 1, ReasonWork},
		// 0.01/s over 90 s is 0.9 items: not expected.
		{"a trickle below one item per wake lead sleeps", Input{At: 100000, Predicted: 0.01}, 1, 0, ReasonIdle},
		{"observed arrivals keep it awake", Input{At: 100000, Arrivals: 0.001}, 1, 1, ReasonWork},
		{"cool-down holds one worker", Input{At: 1299}, 1000, 1, ReasonCoolDown},
		{"cool-down ends exactly", Input{At: 1300}, 1000, 0, ReasonIdle},
		{"never busy is idle", Input{At: 1300}, 0, 0, ReasonIdle},
		{"NaN and negative inputs count as zero", Input{At: 5000, Backlog: math.NaN(), Predicted: -3}, 1, 0, ReasonIdle},
	} {
		got, reason := params.Demand(c.in, c.lastBusy)
		if got != c.want || reason != c.reason {
			t.Errorf("%s: Demand(%+v, %d) = %v %s, want %v %s", c.name, c.in, c.lastBusy, got, reason, c.want, c.reason)
		}
	}
}

func TestTrackerScalesToZeroAndWakes(t *testing.T) {
	var tr Tracker
	type step struct {
		in   Input
		want float64
	}
	for i, s := range []step{
		{Input{At: 10000, Backlog: 120}, 1},    // 120/(2*300) = 0.2 -> at least 1
		{Input{At: 10060, Backlog: 0}, 1},      // drained: the cool-down runs from the last busy sample
		{Input{At: 10299}, 1},                  // 299 s since busy
		{Input{At: 10300}, 0},                  // 300 s since busy: zero
		{Input{At: 13600}, 0},                  // stays at zero
		{Input{At: 13660, Predicted: 0.05}, 1}, // 4.5 items forecast within the lead: wake up
		{Input{At: 13720, Arrivals: 4, Predicted: 4, Backlog: 600}, 3},
		{Input{At: 13780}, 1}, // idle again: cool-down from 3720
		{Input{At: 13700}, 1}, // out of order: LastBusy does not move back
		{Input{At: 14020}, 0},
	} {
		if got, _ := tr.Demand(params, s.in); got != s.want {
			t.Errorf("step %d %+v: demand %v, want %v", i, s.in, got, s.want)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	if err := params.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Params{
		{Throughput: 0, DrainTime: time.Minute, WakeLead: time.Minute},
		{Throughput: math.Inf(1), DrainTime: time.Minute, WakeLead: time.Minute},
		{Throughput: 1, WakeLead: time.Minute},
		{Throughput: 1, DrainTime: time.Minute},
		{Throughput: 1, DrainTime: time.Minute, WakeLead: time.Minute, CoolDown: -1},
	} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) accepted", bad)
		}
	}
}
