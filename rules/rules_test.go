package rules

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/internal/testharness/needs"
)

func loadRules(t *testing.T) []File {
	t.Helper()
	files, err := LoadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestLoadFileReportsFileAndLine(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct{ content, want string }{
		"bad-expr.rules.yaml": {
			content: "groups:\n  - name: g\n    rules:\n      - record: a:b:c\n        expr: sum(rate(x[5m])\n",
			want:    "5:15",
		},
		"unknown-field.rules.yaml": {
			content: "groups:\n  - name: g\n    rules:\n      - record: a:b:c\n        expr: x\n        severity: page\n",
			want:    "line 6",
		},
		"record-with-annotations.rules.yaml": {
			content: "groups:\n  - name: g\n    rules:\n      - record: a:b:c\n        expr: x\n        annotations:\n          summary: s\n",
			want:    "annotations",
		},
	}
	for name, c := range cases {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not name the file and %q", name, err, c.want)
		}
	}
	if _, err := LoadDir(dir); err == nil {
		t.Error("LoadDir of a directory with broken files: no error")
	}
}

// TestPromtool runs the real promtool over the rule files and their unit tests.
func TestPromtool(t *testing.T) {
	promtool := needs.Program(t, "promtool")
	files, err := filepath.Glob(FilePattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files: %v", err)
	}
	tests, err := filepath.Glob(filepath.Join("tests", "*.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests: %v", err)
	}
	for _, args := range [][]string{
		append([]string{"check", "rules"}, files...),
		append([]string{"test", "rules"}, tests...),
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args[:2], " "), err, out)
		}
	}
}

// TestPromtoolTestsCoverEveryRule checks that rules/tests holds, for every recording
// rule, an expression test reading it and, for every alert, a case where it fires and
// one where it does not.
func TestPromtoolTestsCoverEveryRule(t *testing.T) {
	type unitTests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
			PromqlExprTest []struct {
				Expr string `yaml:"expr"`
			} `yaml:"promql_expr_test"`
		} `yaml:"tests"`
	}
	paths, _ := filepath.Glob(filepath.Join("tests", "*.yaml"))
	firing, silent := map[string]bool{}, map[string]bool{}
	var exprs []string
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var u unitTests
		if err := yaml.Unmarshal(raw, &u); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, tc := range u.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname] = true
				} else {
					silent[a.Alertname] = true
				}
			}
			for _, e := range tc.PromqlExprTest {
				exprs = append(exprs, e.Expr)
			}
		}
	}
	for _, r := range Rules(loadRules(t)) {
		if r.Alert != "" {
			if !firing[r.Alert] || !silent[r.Alert] {
				t.Errorf("alert %s: promtool tests need a firing and a not-firing case (firing %v, not firing %v)", r.Alert, firing[r.Alert], silent[r.Alert])
			}
			continue
		}
		found := false
		for _, e := range exprs {
			if regexp.MustCompile(`(^|[^a-z_:])` + regexp.QuoteMeta(r.Record) + `($|[^a-z0-9_:])`).MatchString(e) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("recording rule %s: no promql_expr_test reads it", r.Record)
		}
	}
}

func TestRecordingRuleNamesFollowLevelMetricOperations(t *testing.T) {
	re := regexp.MustCompile(`^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$`)
	for _, r := range Rules(loadRules(t)) {
		if r.Record != "" && !re.MatchString(r.Record) {
			t.Errorf("recording rule %q is not named level:metric:operations", r.Record)
		}
	}
}

func TestAlertsCarryRunbooks(t *testing.T) {
	runbooks, err := os.ReadFile(filepath.Join(needs.Root(t), "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(runbooks), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			anchors[githubAnchor(h)] = true
		}
	}
	const base = "https://github.com/foresight-dev/foresight/blob/main/docs/runbooks.md#"
	for _, r := range Rules(loadRules(t)) {
		if r.Alert == "" {
			continue
		}
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[k]) == "" {
				t.Errorf("alert %s: no %s annotation", r.Alert, k)
			}
		}
		url := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, base)
		if !ok || !anchors[anchor] {
			t.Errorf("alert %s: runbook_url %q is not a section of docs/runbooks.md", r.Alert, url)
		}
		if anchor != githubAnchor(r.Alert) {
			t.Errorf("alert %s: runbook_url points at #%s, not at its own section", r.Alert, anchor)
		}
		switch r.Labels["severity"] {
		case "critical", "warning":
		default:
			t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, r.Labels["severity"])
		}
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// TestSLOBudgetSetOnce checks that every burn-rate alert compares against the one
// budget rule, so changing the SLO is a one-line change.
func TestSLOBudgetSetOnce(t *testing.T) {
	f, err := LoadFile("slo.rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	budgets := 0
	for _, r := range Rules([]File{f}) {
		switch {
		case r.Record == "gateway:slo_error_budget:ratio":
			budgets++
		case r.Alert != "":
			if n := strings.Count(r.Expr, "gateway:slo_error_budget:ratio"); n != 4 {
				t.Errorf("alert %s uses the budget rule %d times, want 4 (two windows of two pairs)", r.Alert, n)
			}
			if regexp.MustCompile(`0\.0\d`).MatchString(r.Expr) {
				t.Errorf("alert %s holds a literal ratio; use gateway:slo_error_budget:ratio", r.Alert)
			}
		}
	}
	if budgets != 1 {
		t.Errorf("%d budget rules, want exactly 1", budgets)
	}
}

func TestPrometheusRuleIsUpToDate(t *testing.T) {
	got, err := GeneratePrometheusRule(".", DefaultPrometheusRuleOptions())
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(needs.Root(t), DefaultPrometheusRulePath))
	if err != nil {
		t.Fatalf("%v (run: go run ./rules/cmd/gen-prometheusrule)", err)
	}
	if !bytes.Equal(got, committed) {
		t.Errorf("%s differs from the rule files; run: go run ./rules/cmd/gen-prometheusrule", DefaultPrometheusRulePath)
	}
}

func TestPrometheusRuleHoldsEveryRule(t *testing.T) {
	got, err := GeneratePrometheusRule(".", DefaultPrometheusRuleOptions())
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Record string `yaml:"record"`
					Alert  string `yaml:"alert"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(got, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.APIVersion != "monitoring.coreos.com/v1" || obj.Kind != "PrometheusRule" || obj.Metadata.Name != "foresight" {
		t.Errorf("object header: %s %s %s", obj.APIVersion, obj.Kind, obj.Metadata.Name)
	}
	groups := map[string]bool{}
	for _, g := range obj.Spec.Groups {
		if groups[g.Name] {
			t.Errorf("group name %q used twice; prometheus-operator needs unique names", g.Name)
		}
		groups[g.Name] = true
	}
	var want, have []string
	for _, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				want = append(want, g.Name+"/"+r.Record+r.Alert+"/"+r.Expr)
			}
		}
	}
	for _, g := range obj.Spec.Groups {
		for _, r := range g.Rules {
			have = append(have, g.Name+"/"+r.Record+r.Alert+"/"+r.Expr)
		}
	}
	if strings.Join(want, "\n") != strings.Join(have, "\n") {
		t.Errorf("PrometheusRule rules differ from the rule files:\nwant %d rules, have %d", len(want), len(have))
	}
}

func TestGeneratePrometheusRuleRejectsBrokenRules(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.rules.yaml"), []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := GeneratePrometheusRule(dir, DefaultPrometheusRuleOptions()); err == nil {
		t.Error("a broken rule file generated a PrometheusRule")
	}
}

// TestRulesUseOnlyCataloguedMetrics checks every metric that a rule reads against
// metrics.yaml and the recording rules.
func TestRulesUseOnlyCataloguedMetrics(t *testing.T) {
	cat, err := LoadCatalog(CatalogFile)
	if err != nil {
		t.Fatal(err)
	}
	files := loadRules(t)
	allowed := cat.Series()
	recorded := Recorded(files)
	p := NewParser()
	for _, r := range Rules(files) {
		names, err := MetricNames(p, r.Expr)
		if err != nil {
			t.Errorf("rule %s%s: %v", r.Record, r.Alert, err)
			continue
		}
		for _, n := range names {
			if allowed[n] == "" && !recorded[n] {
				t.Errorf("rule %s%s reads %s, which is neither in %s nor recorded by a rule", r.Record, r.Alert, n, CatalogFile)
			}
		}
	}
}

// TestCatalogMatchesMetricsDoc checks that the catalogue's Foresight metrics are exactly
// those that docs/metrics.md documents.
func TestCatalogMatchesMetricsDoc(t *testing.T) {
	cat, err := LoadCatalog(CatalogFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(needs.Root(t), "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`?(foresight_[a-z0-9_]+[a-z0-9])`?").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	// docs/metrics.md spells the naming pattern as foresight_<subsystem>_...; skip it.
	inCatalog := map[string]bool{}
	for _, n := range cat.ForesightNames() {
		inCatalog[n] = true
		if !documented[n] {
			t.Errorf("%s lists %s, which docs/metrics.md does not document", CatalogFile, n)
		}
	}
	var missing []string
	for n := range documented {
		if !inCatalog[n] && !strings.HasPrefix(n, "foresight_shadow_") {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("docs/metrics.md documents metrics missing from %s: %v", CatalogFile, missing)
	}
}

func TestMetricNames(t *testing.T) {
	p := NewParser()
	got, err := MetricNames(p, `sum(rate(a_total[5m])) / on() group_left() b + max_over_time(c[1h:1m]) or vector(1)`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a_total,b,c" {
		t.Errorf("got %v", got)
	}
	if _, err := MetricNames(p, `{job="x"}`); err == nil {
		t.Error("a selector without a metric name passed")
	}
	if _, err := MetricNames(p, `sum(`); err == nil {
		t.Error("a broken expression passed")
	}
}

func TestLoadCatalogRejectsBadEntries(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ content, want string }{
		"dup.yaml":     {"foresight:\n  a:\n    - {name: x, type: gauge}\nexporters:\n  - name: e\n    metrics:\n      - {name: x, type: gauge}\n", `metric "x" listed under both`},
		"type.yaml":    {"foresight:\n  a:\n    - {name: x, type: summary}\n", "type must be counter, gauge or histogram"},
		"unknown.yaml": {"foresight:\n  a:\n    - {name: x, type: gauge, help: y}\n", "unknown.yaml:3"},
		"alias.yaml":   {"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "too large"},
		"two.yaml":     {"foresight: {}\n---\nforesight: {}\n", "want one YAML document"},
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCatalog(p)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not say %q", name, err, tc.want)
		}
	}
}
