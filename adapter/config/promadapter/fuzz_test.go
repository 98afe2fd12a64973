package promadapter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// FuzzImport feeds arbitrary files to the importer: Parse never panics, refuses with
// located errors only, and every rule Expand makes from an accepted file renders to a
// query that keeps its label matchers in every selector and pastes no label values. Files are parsed under a
// policy allowing cluster-wide external rules; a file that makes one must be refused
// under the zero policy.
func FuzzImport(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("rules:\n- seriesQuery: '{a!=\"\"}'\n  name: {matches: '^(.*)_total$', as: '${1}'}\n  resources: {template: 'kube_<<.Group>>_<<.Resource>>'}\n  metricsQuery: 'sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) without (<<range .GroupBySlice>><<.>>,<<end>>x)'\n"))
	series := staticLister{
		labels.FromStrings("__name__", "a_total", "namespace", "n", "pod", "p", "kube_apps_deployment", "d"),
		labels.FromStrings("__name__", "b", "namespace", "n", "service", "s", "a", "x"),
		labels.FromStrings("__name__", "b", "a", "y"), // no namespace
	}
	f.Add([]byte("externalRules:\n- seriesQuery: '{a!=\"\"}'\n  resources: {namespaced: false}\n  metricsQuery: 'max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'\n"))
	f.Add([]byte("rules:\n- seriesQuery: '{a!=\"\"}'\n  resources: {template: '<<.Resource>>'}\n  metricsQuery: 'sum(<<.Series>>{namespace=\"<<index .LabelValuesByName \"namespace\">>\",pod=~\"<<.LabelValuesByName.pod>>\"}) by (<<.GroupBy>>) * on (namespace) group_left() max(x{<<.LabelMatchers>>,service=~\"<<index .LabelValuesByName \"service\">>\"}) by (namespace)'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		Detect(data) // must not panic
		cfg, err := ParsePolicy(data, "f.yaml", config.Policy{ClusterWideExternal: true})
		if err != nil {
			var errs strictyaml.Errors
			var one *strictyaml.Error
			if !errors.As(err, &errs) && !errors.As(err, &one) {
				t.Fatalf("error is not located: %T %v", err, err)
			}
			return
		}
		if rr := cfg.ResourceMetricsRules(); rr != nil {
			for _, q := range []*resourcemetrics.Query{&rr.ContainerCPU, &rr.ContainerMemory, &rr.NodeCPU, &rr.NodeMemory} {
				if _, err := q.Render(); err != nil {
					t.Fatalf("resource query %q does not render: %v", q.Template.Text(), err)
				}
			}
		}
		d, err := cfg.Discover(context.Background(), series, time.Unix(0, 0), time.Minute)
		if err != nil {
			return // a selector the test lister cannot evaluate
		}
		rules, _ := cfg.Expand(d)
		for _, r := range rules {
			if strings.Contains(r.Query, labelValuesMark) {
				t.Fatalf("%s: a stand-in of .LabelValuesByName left in %q", r.Name, r.Query)
			}
			matchers := source.AllNamespacesMatchers
			if r.Resources.ClusterWide {
				if r.API != config.APIExternal {
					t.Fatalf("%s: cluster-wide %s rule", r.Name, r.API)
				}
				if _, err := Parse(data, "f.yaml"); err == nil {
					t.Fatalf("%s: cluster-wide, yet the file parses under the zero policy", r.Name)
				}
				matchers = source.ClusterMatchers
			}
			ms, err := matchers(r.Resources.NamespaceLabel)
			if err != nil {
				t.Fatalf("%s: %v", r.Name, err)
			}
			if _, err := source.RenderQuery(r.Query, ms); err != nil {
				t.Fatalf("%s: query %q does not render: %v", r.Name, r.Query, err)
			}
		}
	})
}
