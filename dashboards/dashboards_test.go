package dashboards

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/foresight-dev/foresight/rules"
)

// rateIntervalProbe stands for $__rate_interval while parsing, so that the test can
// tell it from any literal range.
const rateIntervalProbe = 1234 * time.Second

// testValues are the values Grafana variables take while queries are parsed.
var testValues = map[string]string{
	"__rate_interval": "1234s",
	"__interval":      "1m",
	"__range":         "1h",
	"datasource":      "prometheus",
	"namespace":       "shop",
	"metric":          "rps",
}

func loadModels(t *testing.T) map[string]Model {
	t.Helper()
	out := map[string]Model{}
	for _, def := range All() {
		content, err := os.ReadFile(def.File)
		if err != nil {
			t.Fatalf("%v (run: go run ./dashboards/cmd/gen)", err)
		}
		m, err := ParseModel(content)
		if err != nil {
			t.Fatalf("%s: %v", def.File, err)
		}
		out[def.File] = m
	}
	return out
}

// allowedMetrics returns a predicate for metric names that rules/metrics.yaml lists or
// a recording rule in rules/ produces.
func allowedMetrics(t *testing.T) func(string) bool {
	t.Helper()
	cat, err := rules.LoadCatalog(filepath.Join("..", "rules", rules.CatalogFile))
	if err != nil {
		t.Fatal(err)
	}
	files, err := rules.LoadDir(filepath.Join("..", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	series, recorded := cat.Series(), rules.Recorded(files)
	return func(name string) bool { return series[name] != "" || recorded[name] }
}

// checkQuery parses a dashboard query with its variables replaced and checks that it
// reads only allowed metrics and that every rate, irate and increase ranges over
// $__rate_interval.
func checkQuery(p parser.Parser, expr string, allowed func(string) bool) error {
	expanded, err := Expand(expr, testValues)
	if err != nil {
		return err
	}
	ast, err := p.ParseExpr(expanded)
	if err != nil {
		return fmt.Errorf("does not parse: %w", err)
	}
	var problems []error
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		call, ok := node.(*parser.Call)
		if !ok {
			return nil
		}
		switch call.Func.Name {
		case "rate", "irate", "increase":
			ms, ok := call.Args[0].(*parser.MatrixSelector)
			if !ok || ms.Range != rateIntervalProbe {
				problems = append(problems, fmt.Errorf("%s(%s) does not range over $__rate_interval", call.Func.Name, call.Args[0]))
			}
		}
		return nil
	})
	names, err := rules.MetricNames(p, expanded)
	if err != nil {
		problems = append(problems, err)
	}
	for _, n := range names {
		if !allowed(n) {
			problems = append(problems, fmt.Errorf("metric %s is neither in rules/metrics.yaml nor recorded by a rule", n))
		}
	}
	return errors.Join(problems...)
}

func TestCommittedJSONIsCurrent(t *testing.T) {
	for _, def := range All() {
		d, err := def.Build()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(def.File)
		if err != nil {
			t.Fatalf("%v (run: go run ./dashboards/cmd/gen)", err)
		}
		if !bytes.Equal(got, committed) {
			t.Errorf("%s differs from its Go definition; run: go run ./dashboards/cmd/gen", def.File)
		}
	}
}

func TestPanelsHaveUnitsDescriptionsAndGoodQueries(t *testing.T) {
	p := rules.NewParser()
	allowed := allowedMetrics(t)
	for file, m := range loadModels(t) {
		ids := map[int]bool{}
		panels := m.GraphPanels()
		if len(panels) < 4 {
			t.Errorf("%s: only %d panels", file, len(panels))
		}
		for _, panel := range m.Panels {
			if ids[panel.ID] {
				t.Errorf("%s: panel id %d used twice", file, panel.ID)
			}
			ids[panel.ID] = true
		}
		for _, panel := range panels {
			where := fmt.Sprintf("%s: panel %q", file, panel.Title)
			if panel.Title == "" {
				t.Errorf("%s: a panel has no title", file)
			}
			if strings.TrimSpace(panel.Description) == "" {
				t.Errorf("%s: no description", where)
			}
			if panel.Unit() == "" {
				t.Errorf("%s: no unit", where)
			}
			if panel.Datasource.UID != "${datasource}" {
				t.Errorf("%s: data source %q, want ${datasource}", where, panel.Datasource.UID)
			}
			if len(panel.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, target := range panel.Targets {
				if err := checkQuery(p, target.Expr, allowed); err != nil {
					t.Errorf("%s: query %q: %v", where, target.Expr, err)
				}
				if target.LegendFormat == "" {
					t.Errorf("%s: query %q has no legend", where, target.Expr)
				}
			}
		}
		for _, a := range m.Annotations.List {
			if err := checkQuery(p, a.Expr, allowed); err != nil {
				t.Errorf("%s: annotation %q: %v", file, a.Name, err)
			}
		}
	}
}

func TestTemplateVariables(t *testing.T) {
	allowed := allowedMetrics(t)
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	for file, m := range loadModels(t) {
		defined := map[string]bool{}
		for _, v := range m.Templating.List {
			defined[v.Name] = true
			if q, ok := v.Query.(string); ok && v.Type == "query" {
				match := labelValues.FindStringSubmatch(q)
				if match == nil {
					t.Errorf("%s: variable %s: query %q is not label_values(metric...)", file, v.Name, q)
				} else if !allowed(match[1]) {
					t.Errorf("%s: variable %s reads %s, which is not catalogued", file, v.Name, match[1])
				}
			}
		}
		if !defined["datasource"] || !defined["namespace"] {
			t.Errorf("%s: want datasource and namespace variables, have %v", file, defined)
		}
		for _, panel := range m.GraphPanels() {
			for _, target := range panel.Targets {
				for _, v := range Variables(target.Expr) {
					if !strings.HasPrefix(v, "__") && !defined[v] {
						t.Errorf("%s: panel %q uses undefined variable $%s", file, panel.Title, v)
					}
				}
			}
		}
	}
}

// TestCheckQueryRejects makes sure the query check itself can fail.
func TestCheckQueryRejects(t *testing.T) {
	p := rules.NewParser()
	allowed := allowedMetrics(t)
	for _, bad := range []string{
		`rate(envoy_cluster_upstream_rq_total[5m])`,
		`sum(increase(foresight_xds_nacks_total[$__interval]))`,
		`rate(envoy_cluster_upstream_rq_total[$__rate_interval:1m])`,
		`sum(made_up_metric_total)`,
		`sum(rate(envoy_cluster_upstream_rq_total[$__rate_interval])`,
		`foresight_forecast_served_value{namespace="$undefined"}`,
	} {
		if err := checkQuery(p, bad, allowed); err == nil {
			t.Errorf("checkQuery accepted %q", bad)
		}
	}
	good := `sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total{namespace=~"$namespace"}[$__rate_interval]))`
	if err := checkQuery(p, good, allowed); err != nil {
		t.Errorf("checkQuery rejected %q: %v", good, err)
	}
}

func TestExpand(t *testing.T) {
	got, err := Expand(`x{a="$namespace", b="${metric}", c="${metric:regex}"}[$__rate_interval]`, testValues)
	if err != nil {
		t.Fatal(err)
	}
	if want := `x{a="shop", b="rps", c="rps"}[1234s]`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := Expand(`x{a="$nope"}`, testValues); err == nil || !strings.Contains(err.Error(), "$nope") {
		t.Errorf("unknown variable: %v", err)
	}
}

// TestDashboardsCoverTheirSubjects checks that each dashboard shows what it is for.
func TestDashboardsCoverTheirSubjects(t *testing.T) {
	models := loadModels(t)
	want := map[string][]string{
		"predictive-autoscaling.json": {"foresight_forecast_observed_value", "foresight_forecast_predicted_value", "foresight_forecast_served_value", "foresight_forecast_upper_value", "kube_horizontalpodautoscaler_status_desired_replicas", "kube_horizontalpodautoscaler_status_current_replicas", "foresight_forecast_model_info", "foresight_forecast_drift_fallbacks_total", "metric_model:foresight_forecast_absolute_error:ratio_rate1h"},
		"cost.json":                   {"namespace_workload:container_hourly_cost_dollars:sum", "envoy_cluster_upstream_rq_total", "foresight_cost_spot_share", "foresight_cost_target_utilization"},
		"traffic.json":                {"namespace_job_envoy_cluster_name:envoy_cluster_upstream_rq:rate5m", "namespace_job_envoy_cluster_name:envoy_cluster_upstream_rq_5xx:ratio_rate5m", "namespace_job_envoy_cluster_name:envoy_cluster_upstream_rq_time:histogram_quantile", "envoy_cluster_upstream_rq_retry", "envoy_cluster_upstream_rq_pending_overflow", "envoy_cluster_outlier_detection_ejections_active", "envoy_http_local_rate_limit_rate_limited", "foresight_experiment_active"},
		"control-planes.json":         {"foresight_forecast_series", "foresight_forecast_staleness_seconds", "foresight_source_query_duration_seconds_bucket", "foresight_xds_connected_proxies", "foresight_xds_pushes_total", "foresight_xds_push_ack_duration_seconds_bucket", "foresight_xds_nacks_total", "foresight_xds_streams_refused_total"},
	}
	p := rules.NewParser()
	for file, metrics := range want {
		used := map[string]bool{}
		m := models[file]
		var exprs []string
		for _, panel := range m.GraphPanels() {
			for _, target := range panel.Targets {
				exprs = append(exprs, target.Expr)
			}
		}
		for _, a := range m.Annotations.List {
			exprs = append(exprs, a.Expr)
		}
		for _, e := range exprs {
			expanded, err := Expand(e, testValues)
			if err != nil {
				t.Fatal(err)
			}
			names, err := rules.MetricNames(p, expanded)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				used[n] = true
			}
		}
		for _, n := range metrics {
			if !used[n] {
				t.Errorf("%s does not show %s", file, n)
			}
		}
	}
	if len(models["traffic.json"].Annotations.List) == 0 {
		t.Error("traffic.json has no fault experiment annotation")
	}
}
