package promquery_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/foresight-dev/foresight/sidecars/promquery"
)

func TestSamples(t *testing.T) {
	cases := []struct {
		v    model.Value
		want string
		ok   bool
	}{
		{model.Vector{{Value: 1}, {Value: 3}}, "[1 3]", true},
		{model.Vector{}, "[]", true},
		{model.Matrix{{Values: []model.SamplePair{{Value: 2}, {Value: 5}}}}, "[2 5]", true},
		{&model.Scalar{Value: 0.5}, "[0.5]", true},
		{&model.String{Value: "x"}, "[]", false},
	}
	for _, c := range cases {
		got, ok := promquery.Samples(c.v)
		if fmt.Sprint(got) != c.want || ok != c.ok {
			t.Errorf("Samples(%v) = %v, %v; want %s, %v", c.v, got, ok, c.want, c.ok)
		}
	}
	if m := promquery.Max([]float64{1, 7, 3}); m != 7 {
		t.Errorf("Max = %v", m)
	}
	if m := promquery.Max(nil); !math.IsInf(m, -1) {
		t.Errorf("Max of nothing = %v", m)
	}
}

func TestManualClock(t *testing.T) {
	start := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	c := promquery.NewManualClock(start)
	c.Add(time.Minute)
	if got := c.Now(); !got.Equal(start.Add(time.Minute)) {
		t.Errorf("after Add: %v", got)
	}
	select {
	case <-c.After(0):
		t.Error("After fired")
	default:
	}
}
