package config

import (
	"testing"
	"time"
)

const sloFile = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
- name: predicted_requests_per_second
  query: sum by (namespace, service) (rate(http_requests_total{<<.LabelMatchers>>}[2m]))
  slo:
    capacity: 50
    underProvisioned: 0.005
    maxUtilization: 0.95
    window: 2d
    startupDelay: 90s
`

func TestParseSLO(t *testing.T) {
	f, err := Parse([]byte(sloFile), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := f.Rules[0].SLO
	if s == nil {
		t.Fatal("no slo section")
	}
	c := s.ControllerConfig(time.Minute)
	if c.Capacity != 50 || c.UnderProvisioned != 0.005 || c.MaxUtilization != 0.95 || c.Window != 48*time.Hour ||
		c.HPA.StartupDelay != 90*time.Second || c.HPA.MaxReplicas != DefaultShadowMaxReplicas || c.Step != time.Minute {
		t.Errorf("slo config %+v", c)
	}
	// Defaults: the floor, the reactive baseline and the starting utilisation.
	if c.MinUtilization != 0.3 || c.ReactiveTarget != 0.7 || c.InitialUtilization != 0.7 {
		t.Errorf("slo defaults %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

// An SLO rule's shadow section lists the strategies its SLO mode (served,
// added as "slo") is compared with: one is enough, and the rule's model
// need not be among them.
func TestParseSLOShadowOneStrategy(t *testing.T) {
	f, err := Parse([]byte(sloFile+"  shadow:\n    strategies: [reactive]\n    capacity: 50\n"), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sh := f.Rules[0].Shadow; sh == nil || len(sh.Strategies) != 1 {
		t.Fatalf("shadow %+v", sh)
	}
}

func TestParseSLOErrors(t *testing.T) {
	rep := func(old, new string) string { return replaceText(t, "sloFile", sloFile, old, new) }
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"no capacity", rep("    capacity: 50\n", ""), []string{`rules.yaml:6: rules[0].slo.capacity: required`}},
		{"no objective", rep("    underProvisioned: 0.005\n", ""), []string{`rules.yaml:6: rules[0].slo.underProvisioned: required`}},
		{"objective of 1", rep("underProvisioned: 0.005", "underProvisioned: 1"), []string{`rules.yaml:6: rules[0].slo: under-provisioned share 1: must be in [0, 1)`}},
		{"ceiling below floor", rep("maxUtilization: 0.95", "maxUtilization: 0.95\n    minUtilization: 0.99"),
			[]string{`rules[0].slo: min utilisation 0.99: must be in (0, max utilisation 0.95]`}},
		{"short window", rep("window: 2d", "window: 1h"), []string{`rules[0].slo: window 1h0m0s: must be at least 6h0m0s`}},
		{"unknown key", rep("    window: 2d\n", "    windw: 2d\n"), []string{`rules.yaml:10: rules[0].slo.windw: unknown field`}},
		{"with cost", rep("  slo:\n", "  cost:\n    pods: '{pod=~\"x-.+\"}'\n    capacity: 50\n  slo:\n"),
			[]string{`rules[0].slo: an SLO rule chooses its own utilisation and cannot also be cost-weighted`}},
		{"shadow strategies past the limit with slo", rep("    startupDelay: 90s\n", "    startupDelay: 90s\n  shadow:\n    strategies: [reactive, seasonal-naive, holt-winters, arima, linear, fourier, profile, auto]\n"),
			[]string{`rules[0].shadow.strategies: at most 7 strategies are allowed (the slo section runs one more)`}},
		{"shadow without strategies with slo", rep("    startupDelay: 90s\n", "    startupDelay: 90s\n  shadow:\n    strategies: []\n    capacity: 50\n"),
			[]string{`rules[0].shadow.strategies: at least one strategy is required, evaluated in shadow beside the slo section's, which is served`}},
		{"shadow serve with slo", rep("    startupDelay: 90s\n", "    startupDelay: 90s\n  shadow:\n    strategies: [reactive, auto]\n    serve: auto\n    capacity: 50\n"),
			[]string{`rules[0].shadow.serve: an SLO rule serves its slo strategy (added beside the listed ones): drop serve`}},
	} {
		t.Run(tc.name, func(t *testing.T) { _ = parseFails(t, tc.in, tc.want) })
	}
}
