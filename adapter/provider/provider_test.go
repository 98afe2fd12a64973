package provider

import (
	"math"
	"testing"
)

func TestMilliQuantity(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want int64
	}{
		{0, 0},
		{1.5, 1500},
		{0.0001, 1}, // rounded up: the HPA never sees less than served
		{123.4561, 123457},
		{-2.5, -2500},
		{math.NaN(), 0},
		{math.Inf(1), math.MaxInt64 / 2},
	} {
		q := milliQuantity(tc.v)
		if got := q.MilliValue(); got != tc.want {
			t.Errorf("milliQuantity(%v) = %dm, want %dm", tc.v, got, tc.want)
		}
	}
}
