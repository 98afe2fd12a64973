package promadapter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"

	"github.com/foresight-dev/foresight/adapter/resourcemetrics"
	"github.com/foresight-dev/foresight/adapter/source"
)

// ResourceMetricsRules returns the queries that serve resourceRules
// (metrics.k8s.io), or nil when the file has none. Parse has checked them.
func (c *Config) ResourceMetricsRules() *resourcemetrics.Rules {
	return c.resourceRules
}

// resourceMetricsRules converts checked resourceRules, reporting what it cannot convert.
func resourceMetricsRules(rr *ResourceRules, add func(path, format string, args ...any)) *resourcemetrics.Rules {
	out := &resourcemetrics.Rules{Window: resourcemetrics.DefaultWindow}
	bad := false
	if rr.Window != "" {
		d, err := model.ParseDuration(rr.Window)
		if err != nil || d <= 0 {
			add("resourceRules.window", `must be a positive duration like "5m", got %q`, rr.Window)
			bad = true
		}
		out.Window = time.Duration(d)
	}
	for _, x := range []struct {
		name            string
		r               *ResourceRule
		container, node *resourcemetrics.Query
	}{{"cpu", &rr.CPU, &out.ContainerCPU, &out.NodeCPU}, {"memory", &rr.Memory, &out.ContainerMemory, &out.NodeMemory}} {
		p := "resourceRules." + x.name
		fail := func(field, format string, args ...any) { bad = true; add(p+"."+field, format, args...) }
		labelOf := func(singular string) string {
			l, err := resourceLabel(x.r.Resources, singular)
			if err != nil {
				fail("resources", "%v", err)
			}
			return l
		}
		nsLabel, podLabel, nodeLabel := labelOf("namespace"), labelOf("pod"), labelOf("node")
		containerLabel := x.r.ContainerLabel
		if containerLabel == "" {
			fail("containerLabel", "required: the label naming a series' container (cAdvisor: container)")
		}
		if x.r.ContainerQuery == "" {
			fail("containerQuery", "required")
		}
		if x.r.NodeQuery == "" {
			fail("nodeQuery", "required")
		}
		if bad {
			continue
		}
		x.container.NamespaceLabel, x.container.PodLabel, x.container.ContainerLabel = nsLabel, podLabel, containerLabel
		x.node.NodeLabel = nodeLabel
		var err error
		if x.container.Template, err = resourceQuery(x.r.ContainerQuery, []string{nsLabel, podLabel, containerLabel}); err != nil {
			fail("containerQuery", "%v", err)
		}
		if x.node.Template, err = resourceQuery(x.r.NodeQuery, []string{nodeLabel}); err != nil {
			fail("nodeQuery", "%v", err)
		}
	}
	if bad {
		return nil
	}
	return out
}

// resourceQuery renders a resourceRules query for every object at once:
// grouped by groupBy, whose labels the outermost aggregation keeps.
func resourceQuery(text string, groupBy []string) (*source.Template, error) {
	t, err := parseMetricsQuery(text)
	if err != nil {
		return nil, err
	}
	native, err := (&compiled{query: t}).nativeQuery("", groupBy, len(groupBy), resourcemetrics.TemplateOptions())
	if err != nil {
		return nil, err
	}
	return source.ParseTemplateWith(native, resourcemetrics.TemplateOptions())
}

// resourceLabel is the label that names the built-in resource singular
// (namespace, pod, node) in r: an override, else the template's rendering.
func resourceLabel(r Resources, singular string) (string, error) {
	want := builtinResources[singular]
	var found []string
	for label, gr := range r.Overrides {
		if known, ok := overrideResource(gr); ok && known == want {
			found = append(found, label)
		}
	}
	if len(found) > 0 {
		slices.Sort(found)
		return found[0], nil
	}
	if r.Template == "" {
		return "", fmt.Errorf("no label names %s: add an override (e.g. %s: {resource: %s}) or a template", want.Resource, singular, singular)
	}
	t, err := template.New("resources.template").Delims("<<", ">>").Parse(r.Template)
	if err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, struct{ Group, Resource string }{groupSanitizer.Replace(want.Group), singular}); err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	if err := source.ValidateLabelName(b.String()); err != nil {
		return "", errors.New("template renders an invalid label for " + singular + ": " + err.Error())
	}
	return b.String(), nil
}
