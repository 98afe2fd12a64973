package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/source"
)

// ResourceMetrics is a rule file's resourceMetrics section: the queries that
// serve metrics.k8s.io (kubectl top, the HPA's CPU and memory Resource
// metrics), Foresight's form of prometheus-adapter's resourceRules:
//
//	resourceMetrics:
//	  window: 5m
//	  cpu:
//	    containerQuery: sum by (namespace, pod, container) (irate(container_cpu_usage_seconds_total{container!="",<<.LabelMatchers>>}[4m]))
//	    nodeQuery: sum by (node) (irate(node_cpu_usage_seconds_total{<<.LabelMatchers>>}[4m]))
//	  memory:
//	    containerQuery: sum by (namespace, pod, container) (container_memory_working_set_bytes{container!="",<<.LabelMatchers>>})
//	    nodeQuery: sum by (node) (node_memory_working_set_bytes{<<.LabelMatchers>>})
//
// Each query reads every object at once: <<.LabelMatchers>> becomes matchers
// that keep the series naming an object, and an outermost aggregation must
// keep the labels that name it. One selector at least carries
// <<.LabelMatchers>>; the others may go without (resourcemetrics.TemplateOptions).
type ResourceMetrics struct {
	// Window is the interval CPU rates are taken over, reported with every item (default 5m).
	Window time.Duration
	// CPU is in cores, Memory (the working set) in bytes.
	CPU, Memory ResourceQueries
}

// ResourceQueries are one resource's container and node queries and the
// labels naming the objects in their results.
type ResourceQueries struct {
	ContainerQuery, NodeQuery string
	// NamespaceLabel, PodLabel and ContainerLabel name a container in the
	// container query's results (default namespace, pod, container); NodeLabel
	// a node in the node query's (default node).
	NamespaceLabel, PodLabel, ContainerLabel, NodeLabel string
}

// DefaultResourceWindow is resourceMetrics.window's default.
const DefaultResourceWindow = resourcemetrics.DefaultWindow

func (d *decoder) resourceMetrics(n *yaml.Node, p string) *ResourceMetrics {
	m := &ResourceMetrics{}
	queries := func(q *ResourceQueries) func(*yaml.Node, string) {
		return func(n *yaml.Node, p string) {
			d.Mapping(n, p, map[string]func(*yaml.Node, string){
				"containerQuery": func(n *yaml.Node, p string) { q.ContainerQuery = d.String(n, p) },
				"nodeQuery":      func(n *yaml.Node, p string) { q.NodeQuery = d.String(n, p) },
				"namespaceLabel": func(n *yaml.Node, p string) { q.NamespaceLabel = d.String(n, p) },
				"podLabel":       func(n *yaml.Node, p string) { q.PodLabel = d.String(n, p) },
				"containerLabel": func(n *yaml.Node, p string) { q.ContainerLabel = d.String(n, p) },
				"nodeLabel":      func(n *yaml.Node, p string) { q.NodeLabel = d.String(n, p) },
			})
		}
	}
	d.Mapping(n, p, map[string]func(*yaml.Node, string){
		"window": func(n *yaml.Node, p string) { m.Window = d.duration(n, p) },
		"cpu":    queries(&m.CPU),
		"memory": queries(&m.Memory),
	})
	return m
}

// SetDefaults fills the unset window and labels.
func (m *ResourceMetrics) SetDefaults() {
	if m.Window == 0 {
		m.Window = DefaultResourceWindow
	}
	for _, q := range []*ResourceQueries{&m.CPU, &m.Memory} {
		for _, l := range []struct {
			v   *string
			def string
		}{{&q.NamespaceLabel, "namespace"}, {&q.PodLabel, "pod"}, {&q.ContainerLabel, "container"}, {&q.NodeLabel, "node"}} {
			if *l.v == "" {
				*l.v = l.def
			}
		}
	}
}

// validate checks the section (after SetDefaults), reporting each problem under p.
func (m *ResourceMetrics) validate(p string, add func(field, format string, args ...any)) {
	if _, err := m.Rules(); err == nil {
		return
	}
	for _, x := range []struct {
		name string
		q    *ResourceQueries
	}{{"cpu", &m.CPU}, {"memory", &m.Memory}} {
		at := p + "." + x.name + "."
		for _, l := range []struct{ field, v string }{
			{"namespaceLabel", x.q.NamespaceLabel}, {"podLabel", x.q.PodLabel}, {"containerLabel", x.q.ContainerLabel}, {"nodeLabel", x.q.NodeLabel},
		} {
			if err := source.ValidateLabelName(l.v); err != nil {
				add(at+l.field, "%v", err)
			}
		}
		for _, q := range []struct {
			field, text string
			keep        []string
		}{
			{"containerQuery", x.q.ContainerQuery, []string{x.q.NamespaceLabel, x.q.PodLabel, x.q.ContainerLabel}},
			{"nodeQuery", x.q.NodeQuery, []string{x.q.NodeLabel}},
		} {
			if _, err := resourceTemplate(q.text, q.keep); err != nil {
				add(at+q.field, "%v", err)
			}
		}
	}
}

// resourceTemplate checks a resource query: a query template whose outermost
// aggregation keeps the labels keep.
func resourceTemplate(text string, keep []string) (*source.Template, error) {
	if text == "" {
		return nil, errors.New("required")
	}
	t, err := source.ParseTemplateWith(text, resourcemetrics.TemplateOptions())
	if err != nil {
		return nil, err
	}
	// As the resource metrics render it: the series naming an object.
	ms := make([]*labels.Matcher, len(keep))
	for i, l := range keep {
		ms[i] = labels.MustNewMatcher(labels.MatchNotEqual, l, "")
	}
	sample, err := t.Render(ms)
	if err != nil {
		return nil, err
	}
	expr, err := source.ParseQuery(sample)
	if err != nil {
		return nil, fmt.Errorf("renders to invalid PromQL: %w", err)
	}
	if expr.Type() != parser.ValueTypeVector {
		return nil, fmt.Errorf("must return an instant vector, returns a %s", expr.Type())
	}
	for _, l := range keep {
		if dropsLabel(expr, l) {
			return nil, fmt.Errorf("its result drops label %q (an aggregation's by (...) or a vector matching's on (...) leaves it out): add it there", l)
		}
	}
	return t, nil
}

// Rules converts the section (after SetDefaults) into the resource metrics'
// queries.
func (m *ResourceMetrics) Rules() (*resourcemetrics.Rules, error) {
	out := &resourcemetrics.Rules{Window: m.Window}
	for _, x := range []struct {
		q               *ResourceQueries
		container, node *resourcemetrics.Query
	}{{&m.CPU, &out.ContainerCPU, &out.NodeCPU}, {&m.Memory, &out.ContainerMemory, &out.NodeMemory}} {
		for _, l := range []string{x.q.NamespaceLabel, x.q.PodLabel, x.q.ContainerLabel, x.q.NodeLabel} {
			if err := source.ValidateLabelName(l); err != nil {
				return nil, err
			}
		}
		var err error
		*x.container = resourcemetrics.Query{NamespaceLabel: x.q.NamespaceLabel, PodLabel: x.q.PodLabel, ContainerLabel: x.q.ContainerLabel}
		if x.container.Template, err = resourceTemplate(x.q.ContainerQuery, []string{x.q.NamespaceLabel, x.q.PodLabel, x.q.ContainerLabel}); err != nil {
			return nil, err
		}
		*x.node = resourcemetrics.Query{NodeLabel: x.q.NodeLabel}
		if x.node.Template, err = resourceTemplate(x.q.NodeQuery, []string{x.q.NodeLabel}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FromResourceMetricsRules is the section that serves rules (as
// prometheus-adapter's resourceRules import into).
func FromResourceMetricsRules(r *resourcemetrics.Rules) *ResourceMetrics {
	q := func(c, n resourcemetrics.Query) ResourceQueries {
		return ResourceQueries{
			ContainerQuery: c.Template.Text(), NodeQuery: n.Template.Text(),
			NamespaceLabel: c.NamespaceLabel, PodLabel: c.PodLabel, ContainerLabel: c.ContainerLabel, NodeLabel: n.NodeLabel,
		}
	}
	return &ResourceMetrics{Window: r.Window, CPU: q(r.ContainerCPU, r.NodeCPU), Memory: q(r.ContainerMemory, r.NodeMemory)}
}
