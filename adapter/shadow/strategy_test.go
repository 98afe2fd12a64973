package shadow

import (
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/adapter/forecast"
)

func TestParseStrategies(t *testing.T) {
	base := forecast.Settings{Step: time.Minute, Horizon: 10 * time.Minute}
	got, err := ParseStrategies(" reactive, holt-winters@0.85 ,cost-weighted", base, 0.7, cost.Params{Elasticity: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d strategies", len(got))
	}
	if got[0].Name != "reactive" || got[0].Settings.Model != forecast.ModelReactive || got[0].Target != 0.7 || got[0].Cost != nil {
		t.Errorf("reactive: %+v", got[0])
	}
	if got[1].Name != "holt-winters@0.85" || got[1].Settings.Model != forecast.ModelHoltWinters || got[1].Target != 0.85 || got[1].Settings.Horizon != 10*time.Minute {
		t.Errorf("holt-winters: %+v", got[1])
	}
	if got[2].Cost == nil || got[2].Cost.Elasticity != 1 || got[2].Settings.Model != forecast.ModelAuto {
		t.Errorf("cost-weighted: %+v", got[2])
	}
	for in, want := range map[string]string{
		"":                  "no strategies",
		"magic":             `strategy "magic": unknown model`,
		"reactive@0":        "must be a number in (0, 2]",
		"reactive@3":        "must be a number in (0, 2]",
		"reactive,reactive": "listed twice",
	} {
		if _, err := ParseStrategies(in, base, 0.7, cost.Params{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseStrategies(%q) error %v, want %q", in, err, want)
		}
	}
}
