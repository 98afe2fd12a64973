package rules

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// ruleKey names a rule for the promqltest scripts: the record or alert name, and for
// recording rules that share a name, the static labels that tell them apart
// ("name quantile=0.99").
func ruleKey(r rulefmt.Rule) string {
	if r.Alert != "" {
		return r.Alert
	}
	if len(r.Labels) == 0 {
		return r.Record
	}
	parts := []string{r.Record}
	for _, k := range sortedKeys(r.Labels) {
		parts = append(parts, k+"="+r.Labels[k])
	}
	return strings.Join(parts, " ")
}

// TestRuleExpressions evaluates every rule's expression, read from the rule files, in
// the promqltest scripts of testdata/promqltest: {{rule "name"}} stands for the named
// rule's expression. Every recording rule must be evaluated, and every alert both with
// a result (firing) and with an empty result (not firing).
func TestRuleExpressions(t *testing.T) {
	files, err := LoadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	exprs := map[string]string{}
	alerts := map[string]bool{}
	for _, r := range Rules(files) {
		k := ruleKey(r)
		if _, dup := exprs[k]; dup {
			t.Fatalf("two rules share the key %q; give them distinct static labels", k)
		}
		exprs[k] = OneLine(r.Expr)
		if r.Alert != "" {
			alerts[k] = true
		}
	}
	scripts, err := filepath.Glob(filepath.Join("testdata", "promqltest", "*.test"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no promqltest scripts in testdata/promqltest (%v)", err)
	}
	used := map[string]bool{}
	firing := map[string]bool{}
	silent := map[string]bool{}
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	for _, path := range scripts {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var renderErr error
		tmpl, err := template.New(filepath.Base(path)).Funcs(template.FuncMap{
			"rule": func(key string) string {
				e, ok := exprs[key]
				if !ok {
					renderErr = fmt.Errorf("%s: no rule %q in the rule files", path, key)
					return "vector(0)"
				}
				used[key] = true
				return e
			},
		}).Parse(string(raw))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, nil); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if renderErr != nil {
			t.Fatal(renderErr)
		}
		script := buf.String()
		recordAlertOutcomes(script, exprs, alerts, firing, silent)
		t.Run(filepath.Base(path), func(t *testing.T) {
			promqltest.RunTest(t, script, engine)
		})
	}
	var missing []string
	for k := range exprs {
		switch {
		case !used[k]:
			missing = append(missing, k+": never evaluated")
		case alerts[k] && !firing[k]:
			missing = append(missing, k+": no firing case")
		case alerts[k] && !silent[k]:
			missing = append(missing, k+": no not-firing case")
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("rules without promqltest cases:\n  %s", strings.Join(missing, "\n  "))
	}
}

// recordAlertOutcomes notes, for each eval of an alert's expression, whether the script
// expects results (indented lines follow) or an empty result.
func recordAlertOutcomes(script string, exprs map[string]string, alerts, firing, silent map[string]bool) {
	lines := strings.Split(script, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(line, "eval") {
			continue
		}
		for k := range alerts {
			if !strings.HasSuffix(line, " "+exprs[k]) {
				continue
			}
			if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" && strings.HasPrefix(lines[i+1], " ") {
				firing[k] = true
			} else {
				silent[k] = true
			}
		}
	}
}
