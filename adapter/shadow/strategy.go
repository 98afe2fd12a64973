package shadow

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/foresight-dev/foresight/adapter/cost"
	"github.com/foresight-dev/foresight/adapter/forecast"
)

// StrategyCostWeighted is the strategy name that ParseStrategies turns into
// cost-weighted scaling (model auto, weighted by params).
const StrategyCostWeighted = "cost-weighted"

// StrategySLO names the strategy an SLO rule's shadow evaluation adds: the
// rule's SLO mode (Strategy.SLO).
const StrategySLO = "slo"

// ParseStrategies parses a comma-separated list of strategies, each a model
// name (reactive, auto, holt-winters, ...) or cost-weighted, optionally with
// @TARGET (the HPA target as a fraction of pod capacity, in (0, 2]; target
// when absent). Each strategy's forecaster gets base with its model; a
// cost-weighted one gets params. The item as written is the strategy's name.
func ParseStrategies(list string, base forecast.Settings, target float64, params cost.Params) ([]Strategy, error) {
	var out []Strategy
	seen := map[string]bool{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if seen[item] {
			return nil, fmt.Errorf("strategy %q is listed twice", item)
		}
		seen[item] = true
		name, t := item, target
		if at := strings.IndexByte(item, '@'); at >= 0 {
			name = item[:at]
			v, err := strconv.ParseFloat(item[at+1:], 64)
			if err != nil || !(v > 0) || v > 2 {
				return nil, fmt.Errorf("strategy %q: target %q must be a number in (0, 2]", item, item[at+1:])
			}
			t = v
		}
		s := Strategy{Name: item, Target: t, Settings: base}
		if name == StrategyCostWeighted {
			p := params
			s.Cost = &p
			s.Settings.Model = forecast.ModelAuto
		} else {
			m, err := forecast.ParseModel(name)
			if err != nil {
				return nil, fmt.Errorf("strategy %q: %w", item, err)
			}
			s.Settings.Model = m
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no strategies in %q", list)
	}
	return out, nil
}
