package config

import (
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/cost"
)

const costFile = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
- name: checkout_replicas
  query: sum by (namespace, service) (rate(envoy_cluster_upstream_rq_total{<<.LabelMatchers>>}[1m]))
  forecast: {model: auto}
  cost:
    pods: '{pod=~"checkout-.+"}'
    capacity: 50
    targetUtilization: 0.75
    elasticity: 0.6
    minUtilization: 0.55
    maxUtilization: 0.95
    referencePrice: 0.12
    interruptionDiscount: 0.2
    priceHold: 30m
    referenceWindow: 3d
  shadow:
    strategies: [reactive, holt-winters@0.8, auto, cost-weighted]
    target: 0.65
    windows: [1h, 1d]
    minReplicas: 2
    maxReplicas: 50
    syncPeriod: 30s
    startupDelay: 90s
- name: static_priced
  query: sum by (namespace, service) (rate(envoy_cluster_upstream_rq_total{<<.LabelMatchers>>}[1m]))
  cost:
    pods: '{namespace="shop", pod=~"cart-.+"}'
    capacity: 10
    staticPrices:
    - nodeLabels: {karpenter.sh/capacity-type: spot}
      hourly: 0.04
      spot: true
    - nodeLabels: {}
      hourly: 0.12
  shadow:
    strategies: [reactive, cost-weighted]
    startupDelay: 0s
`

func TestParseCostAndShadow(t *testing.T) {
	f, err := Parse([]byte(costFile), "rules.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	c := f.Rules[0].Cost
	wantParams := cost.Params{Capacity: 50, TargetUtilization: 0.75, Elasticity: 0.6, MinUtilization: 0.55,
		MaxUtilization: 0.95, ReferencePrice: 0.12, InterruptionDiscount: 0.2}
	if c == nil || c.Params != wantParams || c.PriceHold != 30*time.Minute || c.ReferenceWindow != 72*time.Hour || c.Pods != `{pod=~"checkout-.+"}` {
		t.Fatalf("cost = %+v", c)
	}
	s := f.Rules[0].Shadow
	if s == nil || strings.Join(s.Strategies, ",") != "reactive,holt-winters@0.8,auto,cost-weighted" || s.Capacity != 50 ||
		s.Target != 0.65 || len(s.Windows) != 2 || s.Windows[1] != 24*time.Hour || s.MinReplicas != 2 || s.MaxReplicas != 50 ||
		s.SyncPeriod != 30*time.Second || s.StartupDelay != 90*time.Second {
		t.Fatalf("shadow = %+v", s)
	}
	if got := s.Served(&f.Rules[0]); got != "cost-weighted" {
		t.Errorf("served strategy = %q, want cost-weighted (the rule has a cost section)", got)
	}
	// Defaults.
	c1, s1 := f.Rules[1].Cost, f.Rules[1].Shadow
	if c1.Params.TargetUtilization != cost.DefaultTargetUtilization || c1.Params.MaxUtilization != cost.DefaultMaxUtilization ||
		c1.PriceHold != DefaultPriceHold || c1.ReferenceWindow != DefaultReferenceWindow {
		t.Errorf("cost defaults = %+v", c1)
	}
	if len(c1.StaticPrices) != 2 || !c1.StaticPrices[0].Spot || c1.StaticPrices[0].NodeLabels["karpenter.sh/capacity-type"] != "spot" ||
		c1.StaticPrices[1].Hourly != 0.12 || len(c1.StaticPrices[1].NodeLabels) != 0 {
		t.Errorf("static prices = %+v", c1.StaticPrices)
	}
	q, err := c1.Queries()
	if err != nil || !strings.Contains(q.ReplicaPrice, "kube_node_labels{label_karpenter_sh_capacity_type=\"spot\"}") {
		t.Errorf("static queries = %+v, %v", q, err)
	}
	if s1.Capacity != 10 || s1.Target != DefaultShadowTarget || len(s1.Windows) != 3 || s1.StartupDelay != 0 ||
		s1.MaxReplicas != DefaultShadowMaxReplicas || s1.SyncPeriod != DefaultShadowSyncPeriod {
		t.Errorf("shadow defaults = %+v", s1)
	}
}

// replaceIn swaps old for new in costFile.
func replaceIn(t *testing.T, old, new string) string {
	t.Helper()
	return replaceText(t, "costFile", costFile, old, new)
}

func TestParseCostAndShadowErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"unknown cost field", replaceIn(t, "    capacity: 50\n", "    capacity: 50\n    capcity: 5\n"),
			[]string{"rules.yaml:10: rules[0].cost.capcity: unknown field"}},
		{"cost not a mapping", replaceIn(t, "  cost:\n    pods: '{namespace=\"shop\", pod=~\"cart-.+\"}'\n    capacity: 10\n    staticPrices:\n    - nodeLabels: {karpenter.sh/capacity-type: spot}\n      hourly: 0.04\n      spot: true\n    - nodeLabels: {}\n      hourly: 0.12\n", "  cost: yes\n"),
			[]string{`rules.yaml:28: rules[1].cost: must be a mapping, got string "yes"`}},
		{"capacity missing", replaceIn(t, "    capacity: 50\n", ""),
			[]string{"rules.yaml:7: rules[0].cost.capacity: required: the load one replica serves"}},
		{"capacity negative", replaceIn(t, "capacity: 50", "capacity: -5"),
			[]string{"rules.yaml:9: rules[0].cost.capacity: must be > 0, got -5"}},
		{"capacity not a number", replaceIn(t, "capacity: 50", "capacity: lots"),
			[]string{`rules.yaml:9: rules[0].cost.capacity: must be a number, got "lots"`}},
		{"utilisation as percent", replaceIn(t, "targetUtilization: 0.75", "targetUtilization: 75"),
			[]string{"rules.yaml:10: rules[0].cost.targetUtilization: must be in (0,2], got 75"}},
		{"min above max", replaceIn(t, "minUtilization: 0.55", "minUtilization: 0.99"),
			[]string{"rules.yaml:12: rules[0].cost.minUtilization: must not exceed maxUtilization"}},
		{"elasticity zero", replaceIn(t, "elasticity: 0.6", "elasticity: 0"),
			[]string{"rules.yaml:11: rules[0].cost.elasticity: must be > 0 (0 would make the weighting cost-blind"}},
		{"elasticity too large", replaceIn(t, "elasticity: 0.6", "elasticity: 9"),
			[]string{"rules.yaml:11: rules[0].cost.elasticity: must be in [0,4], got 9"}},
		{"negative reference price", replaceIn(t, "referencePrice: 0.12", "referencePrice: -1"),
			[]string{"rules.yaml:14: rules[0].cost.referencePrice: must be >= 0, got -1"}},
		{"interruption discount 1", replaceIn(t, "interruptionDiscount: 0.2", "interruptionDiscount: 1"),
			[]string{"rules.yaml:15: rules[0].cost.interruptionDiscount: must be in [0,1), got 1"}},
		{"bad price hold", replaceIn(t, "priceHold: 30m", "priceHold: half an hour"),
			[]string{`rules.yaml:16: rules[0].cost.priceHold: must be a duration like "5m" or "14d", got "half an hour"`}},
		{"price hold below step", replaceIn(t, "priceHold: 30m", "priceHold: 10s"),
			[]string{"rules.yaml:16: rules[0].cost.priceHold: must be at least step 1m, got 10s"}},
		{"reference window too short", replaceIn(t, "referenceWindow: 3d", "referenceWindow: 5m"),
			[]string{"rules.yaml:17: rules[0].cost.referenceWindow: must be at least 1h, got 5m"}},
		{"pods missing", replaceIn(t, "    pods: '{pod=~\"checkout-.+\"}'\n", ""),
			[]string{"rules.yaml:7: rules[0].cost.pods: required: the selector of the workload's pods"}},
		{"pods names a metric", replaceIn(t, `pods: '{pod=~"checkout-.+"}'`, `pods: 'up{pod="x"}'`),
			[]string{`rules.yaml:8: rules[0].cost.pods: workload selector "up{pod=\"x\"}": must not name a metric`}},
		{"pods injection", replaceIn(t, `pods: '{pod=~"checkout-.+"}'`, `pods: '{pod="x"} or vector(1)'`),
			[]string{`rules.yaml:8: rules[0].cost.pods: workload selector`}},
		{"static price without hourly", replaceIn(t, "      hourly: 0.04\n", ""),
			[]string{"rules.yaml:32: rules[1].cost.staticPrices[0].hourly: required"}},
		{"static price negative", replaceIn(t, "hourly: 0.04", "hourly: -0.04"),
			[]string{"rules.yaml:33: rules[1].cost.staticPrices[0].hourly: must be >= 0, got -0.04"}},
		{"static node label invalid", replaceIn(t, "{karpenter.sh/capacity-type: spot}", "{\"capacity type\": spot}"),
			[]string{`rules.yaml:32: rules[1].cost.staticPrices[0].nodeLabels.capacity type: node label "capacity type"`}},
		{"static node label value not a string", replaceIn(t, "{karpenter.sh/capacity-type: spot}", "{karpenter.sh/capacity-type: 1}"),
			[]string{`rules.yaml:32: rules[1].cost.staticPrices[0].nodeLabels.karpenter.sh/capacity-type: must be a string, got integer "1"`}},
		{"static unknown field", replaceIn(t, "      spot: true\n", "      spot: true\n      zone: a\n"),
			[]string{"rules.yaml:35: rules[1].cost.staticPrices[0].zone: unknown field"}},
		{"unknown shadow field", replaceIn(t, "    target: 0.65\n", "    target: 0.65\n    budget: 3\n"),
			[]string{"rules.yaml:21: rules[0].shadow.budget: unknown field"}},
		{"one strategy", replaceIn(t, "[reactive, holt-winters@0.8, auto, cost-weighted]", "[cost-weighted]"),
			[]string{"rules.yaml:19: rules[0].shadow.strategies: at least two strategies are required"}},
		{"unknown strategy", replaceIn(t, "[reactive, holt-winters@0.8, auto, cost-weighted]", "[reactive, kalman, cost-weighted]"),
			[]string{`rules.yaml:19: rules[0].shadow.strategies[1]: must be cost-weighted or a model (auto, reactive, seasonal-naive, holt-winters, arima, linear, fourier, profile, prophet), optionally with @TARGET, got "kalman"`}},
		{"strategy target out of range", replaceIn(t, "holt-winters@0.8", "holt-winters@80"),
			[]string{`rules.yaml:19: rules[0].shadow.strategies[1]: target "80" after @ must be a number in (0, 2]`}},
		{"strategy twice", replaceIn(t, "[reactive, holt-winters@0.8, auto, cost-weighted]", "[reactive, reactive, cost-weighted]"),
			[]string{`rules.yaml:19: rules[0].shadow.strategies[1]: strategy "reactive" is listed twice (also strategies[0])`}},
		{"strategy not a string", replaceIn(t, "[reactive, holt-winters@0.8, auto, cost-weighted]", "[reactive, 3, cost-weighted]"),
			[]string{`rules.yaml:19: rules[0].shadow.strategies[1]: must be a string, got integer "3"`}},
		{"empty strategy", replaceIn(t, "[reactive, holt-winters@0.8, auto, cost-weighted]", "[reactive, '', cost-weighted]"),
			[]string{"rules.yaml:19: rules[0].shadow.strategies[1]: must name a strategy, got nothing"}},
		{"served strategy not listed", replaceIn(t, "[reactive, holt-winters@0.8, auto, cost-weighted]", "[reactive, holt-winters@0.8, auto]"),
			[]string{`rules.yaml:19: rules[0].shadow.strategies: must list the strategy the rule serves, "cost-weighted"`}},
		{"serve disagrees with the rule", replaceIn(t, "    target: 0.65\n", "    target: 0.65\n    serve: auto\n"),
			[]string{`rules.yaml:21: rules[0].shadow.serve: the rule serves "cost-weighted" (from forecast.model and cost), not "auto"`}},
		{"serve not listed", replaceIn(t, "    target: 0.65\n", "    target: 0.65\n    serve: arima\n"),
			[]string{`rules.yaml:21: rules[0].shadow.serve: must be one of the listed strategies, got "arima"`}},
		{"cost-weighted without cost", strings.Replace(replaceIn(t, "    capacity: 50\n", ""), "  cost:\n    pods: '{pod=~\"checkout-.+\"}'\n    targetUtilization: 0.75\n    elasticity: 0.6\n    minUtilization: 0.55\n    maxUtilization: 0.95\n    referencePrice: 0.12\n    interruptionDiscount: 0.2\n    priceHold: 30m\n    referenceWindow: 3d\n", "", 1),
			[]string{"rules.yaml:8: rules[0].shadow.strategies[3]: cost-weighted needs the rule's cost section",
				"rules.yaml:7: rules[0].shadow.capacity: required without a cost or slo section"}},
		{"target out of range", replaceIn(t, "target: 0.65", "target: 3"),
			[]string{"rules.yaml:20: rules[0].shadow.target: must be in (0, 2], got 3"}},
		{"window not a multiple of step", replaceIn(t, "windows: [1h, 1d]", "windows: [1h, 90s]"),
			[]string{"rules.yaml:21: rules[0].shadow.windows[1]: must be a multiple of step 1m, got 1m30s"}},
		{"window too long", replaceIn(t, "windows: [1h, 1d]", "windows: [1h, 1y]"),
			[]string{"rules.yaml:21: rules[0].shadow.windows[1]: must be at most 90d, got 1y"}},
		{"max below min", replaceIn(t, "maxReplicas: 50", "maxReplicas: 1"),
			[]string{"rules.yaml:23: rules[0].shadow.maxReplicas: must be at least minReplicas 2, got 1"}},
		{"replicas not whole", replaceIn(t, "minReplicas: 2", "minReplicas: 2.5"),
			[]string{`rules.yaml:22: rules[0].shadow.minReplicas: must be a whole number, got "2.5"`}},
		{"sync period fraction", replaceIn(t, "syncPeriod: 30s", "syncPeriod: 1500ms"),
			[]string{"rules.yaml:24: rules[0].shadow.syncPeriod: must be a whole number of seconds, got 1s500ms"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := parseFails(t, tc.in, tc.want)
			// One problem, one message: a section that failed to decode is not
			// reported again field by field.
			if got, max := strings.Count(err.Error(), "\n")+1, len(tc.want); got > max {
				t.Errorf("%d errors for %d problems:\n%v", got, max, err)
			}
		})
	}
}

// TestShadowCapacityDefaultsToTheSLOs: the shadow evaluation of an SLO rule takes the SLO's
// capacity, as it takes a cost section's.
func TestShadowCapacityDefaultsToTheSLOs(t *testing.T) {
	f, err := Parse([]byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
- name: web_replicas_slo
  query: sum by (namespace, service) (rate(http_requests_total{<<.LabelMatchers>>}[1m]))
  slo: {capacity: 40, underProvisioned: 0.01, maxUtilization: 0.9, window: 7d}
  shadow: {strategies: [reactive]}
`), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Rules[0].Shadow.Capacity; got != 40 {
		t.Errorf("shadow capacity %v, want the SLO's 40", got)
	}
}
