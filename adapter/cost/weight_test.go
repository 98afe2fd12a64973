package cost

import (
	"math"
	"strings"
	"testing"
)

func TestWeighHandComputed(t *testing.T) {
	p := Params{Capacity: 100, TargetUtilization: 0.7, Elasticity: 0.5, MinUtilization: 0.5, MaxUtilization: 0.9}
	cases := []struct {
		name              string
		load, ratio, spot float64
		q                 float64
		wantU, wantV      float64
	}{
		{"reference price", 700, 1, 0, 0, 0.7, 10},
		{"dear capacity runs hotter", 700, 1.44, 0, 0, 0.84, 700.0 / 84},
		{"very dear capacity is capped at umax", 700, 4, 0, 0, 0.9, 700.0 / 90},
		{"cheap capacity buys headroom, floored at umin", 700, 0.25, 0, 0, 0.5, 14},
		{"unknown price is cost-blind", 700, 0, 0, 0, 0.7, 10},
		{"spot share discounted", 700, 1, 0.5, 0.2, 0.7, 700.0 / (70 * 0.9)},
		{"spot share clamped to 1", 700, 1, 3, 0.5, 0.7, 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := p
			p.InterruptionDiscount = c.q
			w := p.Weigh(c.load, c.ratio, c.spot)
			if math.Abs(w.Utilization-c.wantU) > 1e-12 {
				t.Errorf("u = %v, want %v", w.Utilization, c.wantU)
			}
			if math.Abs(w.Value-c.wantV) > 1e-9 {
				t.Errorf("V = %v, want %v", w.Value, c.wantV)
			}
		})
	}
}

func TestParamsDefaultsAndValidate(t *testing.T) {
	p := Params{Capacity: 50}
	p.SetDefaults()
	if err := p.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if p.TargetUtilization != 0.7 || p.MinUtilization != 0.5 || p.MaxUtilization != 0.9 || p.Elasticity != 0.5 {
		t.Fatalf("unexpected defaults %+v", p)
	}
	// A target above one pod's capacity is valid: L is an upper quantile of the peak.
	p = Params{Capacity: 1, TargetUtilization: 1.2, MaxUtilization: 1.3}
	p.SetDefaults()
	if err := p.Validate(); err != nil {
		t.Fatalf("target 1.2 with umax 1.3 refused: %v", err)
	}
	bad := Params{Capacity: -1, TargetUtilization: 70, Elasticity: math.NaN(), MinUtilization: 0.9, MaxUtilization: 0.6, InterruptionDiscount: 1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid params accepted")
	}
	for _, field := range []string{"capacity", "targetUtilization", "elasticity", "minUtilization: must not exceed", "interruptionDiscount"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q does not name %s", err, field)
		}
	}
}
