package config

import (
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/foresight-dev/foresight/adapter/source"
)

// TestDropsLabel tells the queries whose result series certainly lack a label their
// selectors carry, through functions, arithmetic and vector matching.
func TestDropsLabel(t *testing.T) {
	for _, c := range []struct {
		query string
		drops bool
	}{
		{`sum by (namespace, svc) (rate(x[5m]))`, false},
		{`sum by (svc) (rate(x[5m]))`, true},
		{`sum without (namespace) (x)`, true},
		{`sum without (pod) (x)`, false},
		{`x`, false},
		{`round(sum by (svc) (rate(x[5m])), 0.001)`, true},
		{`round(sum by (svc, namespace) (rate(x[5m])), 0.001)`, false},
		{`histogram_quantile(0.9, sum by (le, svc) (rate(x_bucket[5m])))`, true},
		{`histogram_quantile(0.9, sum by (le, namespace) (rate(x_bucket[5m])))`, false},
		{`sum by (pod) (x) * 100`, true},
		{`100 * sum by (pod, namespace) (x)`, false},
		{`sum by (namespace) (a) / sum by (namespace) (b)`, false},
		{`sum by (namespace) (a) / on (pod) sum by (namespace, pod) (b)`, true},
		{`a / ignoring (namespace) b`, true},
		{`a * on (pod, namespace) group_left (node) b`, false},
		{`a * on (pod) group_left (namespace) b`, false},
		{`sum by (pod) (a) * on (pod) group_left (namespace) b`, false},
		{`sum by (namespace, pod) (x) or vector(0)`, false},
		{`vector(1)`, true},
		{`topk(3, x)`, false},
		{`topk by (svc) (3, x)`, false},
		{`max by (svc) (topk(3, x))`, true},
		{`label_replace(sum by (svc) (x), "a", "$1", "svc", "(.*)")`, true},
	} {
		expr, err := source.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := dropsLabel(expr, "namespace"); got != c.drops {
			t.Errorf("dropsLabel(%s) = %v, want %v", c.query, got, c.drops)
		}
	}
}

// TestKeepLabel rewrites a query as if evaluated for each namespace apart: every
// aggregation and vector matching whose inputs carry the label keeps it, and those whose
// inputs do not are left alone.
func TestKeepLabel(t *testing.T) {
	// Selectors with a matcher on app carry the label, as imported queries' selectors with
	// <<.LabelMatchers>> do.
	carried := func(vs *parser.VectorSelector) bool {
		for _, m := range vs.LabelMatchers {
			if m.Name == "app" {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		query, want string
		kept        bool
	}{
		{`round(sum by (svc) (irate(x{app="a"}[5m])), 0.001)`, `round(sum by (svc, namespace) (irate(x{app="a"}[5m])), 0.001)`, true},
		{`histogram_quantile(0.9, sum by (le, svc) (rate(x_bucket{app="a"}[5m])))`, `histogram_quantile(0.9, sum by (le, svc, namespace) (rate(x_bucket{app="a"}[5m])))`, true},
		{`sum by (pod) (rate(x{app="a"}[2m])) * 100`, `sum by (pod, namespace) (rate(x{app="a"}[2m])) * 100`, true},
		{`sum(a{app="a"}) / sum(b{app="a"})`, `sum by (namespace) (a{app="a"}) / sum by (namespace) (b{app="a"})`, true},
		{`a{app="a"} / on (pod) b{app="a"}`, `a{app="a"} / on (pod, namespace) b{app="a"}`, true},
		{`a{app="a"} / ignoring (namespace) b{app="a"}`, `a{app="a"} / b{app="a"}`, true},
		{`sum without (namespace) (x{app="a"})`, `sum without () (x{app="a"})`, true},
		{`max(sum by (pod) (x{app="a"}))`, `max by (namespace) (sum by (pod, namespace) (x{app="a"}))`, true},
		{`topk(3, x{app="a"})`, `topk by (namespace) (3, x{app="a"})`, true},
		// A join with series that lack the label is left as it is: the many side's labels
		// are the result's.
		{`sum by (node) (rate(cpu[5m]) * on (instance) group_left (pod) info{app="a"})`, `sum by (node) (rate(cpu[5m]) * on (instance) group_left (pod) info{app="a"})`, false},
		{`sum by (namespace, node) (info{app="a"} * on (instance) group_right (pod) rate(cpu[5m]))`, `sum by (namespace, node) (info{app="a"} * on (instance) group_right (pod) rate(cpu[5m]))`, false},
		{`sum by (svc) (x{app="a"}) or vector(0)`, `sum by (svc, namespace) (x{app="a"}) or vector(0)`, true},
		// scalar() needs one series: what is inside it is left as written.
		{`x{app="a"} / scalar(sum(y{app="a"}))`, `x{app="a"} / scalar(sum(y{app="a"}))`, true},
		// A label matched on is not copied by group_left as well (PromQL refuses both).
		{`sum by (pod) (x{app="a"}) * on (pod) group_left (namespace) info{app="a"}`, `sum by (pod, namespace) (x{app="a"}) * on (pod, namespace) group_left () info{app="a"}`, true},
		{`count_values("namespace", x{app="a"})`, `count_values("namespace", x{app="a"})`, true},
	} {
		expr, err := source.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		kept := KeepLabel(expr, "namespace", carried)
		if got := expr.String(); got != c.want || kept != c.kept {
			t.Errorf("KeepLabel(%s)\n = %s, %v\nwant %s, %v", c.query, got, kept, c.want, c.kept)
		}
		if _, err := source.ParseQuery(expr.String()); err != nil {
			t.Errorf("KeepLabel(%s) = %s, which does not parse: %v", c.query, expr, err)
		}
	}
}
