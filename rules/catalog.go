package rules

import (
	"fmt"
	"os"
	"sort"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// CatalogFile is the name of the metric catalogue in the rules directory.
const CatalogFile = "metrics.yaml"

// Catalog is the one list of metrics that rules and dashboards may use: Foresight's
// own metrics by component and external exporters' metrics by exporter.
type Catalog struct {
	// Foresight lists Foresight's own metrics by component (adapter, cost, xds).
	Foresight map[string][]CatalogMetric `yaml:"foresight"`
	// Exporters lists the external exporters and their metrics.
	Exporters []Exporter `yaml:"exporters"`
}

// Exporter is an external exporter whose metrics Foresight's rules and dashboards use.
type Exporter struct {
	// Name is the exporter's name (envoy, opencost, kube-state-metrics).
	Name string `yaml:"name"`
	// Docs is where the exporter documents its metrics.
	Docs string `yaml:"docs"`
	// Labels are the exporter's labels that rules and dashboards rely on.
	Labels []string `yaml:"labels"`
	// Metrics are the exporter's metrics in use.
	Metrics []CatalogMetric `yaml:"metrics"`
}

// CatalogMetric is one metric of the catalogue.
type CatalogMetric struct {
	// Name is the metric name as exported.
	Name string `yaml:"name"`
	// Type is counter, gauge or histogram; a histogram also allows its
	// _bucket, _count and _sum series.
	Type string `yaml:"type"`
}

// LoadCatalog reads and validates a catalogue file strictly.
func LoadCatalog(path string) (*Catalog, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read metric catalogue: %w", err)
	}
	docs, err := strictyaml.Documents(content, path)
	if err != nil {
		return nil, fmt.Errorf("parse metric catalogue: %w", err)
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("parse metric catalogue %s: want one YAML document, found %d", path, len(docs))
	}
	var c Catalog
	if d := strictyaml.NewDecoder(path); !d.Decode(docs[0], "", &c) {
		return nil, fmt.Errorf("parse metric catalogue: %w", d.Errs.Err())
	}
	seen := map[string]string{}
	check := func(where string, m CatalogMetric) error {
		switch m.Type {
		case "counter", "gauge", "histogram":
		default:
			return fmt.Errorf("metric catalogue %s: %s: metric %q: type must be counter, gauge or histogram, not %q", path, where, m.Name, m.Type)
		}
		if m.Name == "" {
			return fmt.Errorf("metric catalogue %s: %s: a metric has no name", path, where)
		}
		if prev, ok := seen[m.Name]; ok {
			return fmt.Errorf("metric catalogue %s: metric %q listed under both %s and %s", path, m.Name, prev, where)
		}
		seen[m.Name] = where
		return nil
	}
	for comp, ms := range c.Foresight {
		for _, m := range ms {
			if err := check("foresight."+comp, m); err != nil {
				return nil, err
			}
		}
	}
	for _, e := range c.Exporters {
		if e.Name == "" {
			return nil, fmt.Errorf("metric catalogue %s: an exporter has no name", path)
		}
		for _, m := range e.Metrics {
			if err := check("exporters."+e.Name, m); err != nil {
				return nil, err
			}
		}
	}
	return &c, nil
}

// Series returns every series name the catalogue allows, mapped to where it is listed
// (foresight.<component> or exporters.<name>).
func (c *Catalog) Series() map[string]string {
	out := map[string]string{}
	add := func(where string, m CatalogMetric) {
		out[m.Name] = where
		if m.Type == "histogram" {
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				out[m.Name+s] = where
			}
		}
	}
	for comp, ms := range c.Foresight {
		for _, m := range ms {
			add("foresight."+comp, m)
		}
	}
	for _, e := range c.Exporters {
		for _, m := range e.Metrics {
			add("exporters."+e.Name, m)
		}
	}
	return out
}

// ForesightNames returns the names of Foresight's own metrics, sorted.
func (c *Catalog) ForesightNames() []string {
	var out []string
	for _, ms := range c.Foresight {
		for _, m := range ms {
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out
}

// MetricNames parses a PromQL expression and returns the metric names its selectors
// read, sorted and without duplicates. A selector without a metric name is an error:
// every query must say which metric it reads.
func MetricNames(p parser.Parser, expr string) ([]string, error) {
	ast, err := p.ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	set := map[string]bool{}
	var missing error
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name == "" {
			missing = fmt.Errorf("selector %s in %q has no metric name", vs.String(), expr)
			return nil
		}
		set[vs.Name] = true
		return nil
	})
	if missing != nil {
		return nil, missing
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
