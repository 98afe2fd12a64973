package promadapter

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/foresight-dev/foresight/adapter/source"
)

// builtinResources are the Kubernetes built-in resources a label can name, by singular
// name. prometheus-adapter asks the cluster's discovery (a RESTMapper); the importer
// works without a cluster, so a custom resource must be named in resources.overrides.
var builtinResources = map[string]schema.GroupResource{
	"pod":                     {Resource: "pods"},
	"service":                 {Resource: "services"},
	"namespace":               {Resource: "namespaces"},
	"node":                    {Resource: "nodes"},
	"persistentvolume":        {Resource: "persistentvolumes"},
	"persistentvolumeclaim":   {Resource: "persistentvolumeclaims"},
	"replicationcontroller":   {Resource: "replicationcontrollers"},
	"deployment":              {Group: "apps", Resource: "deployments"},
	"statefulset":             {Group: "apps", Resource: "statefulsets"},
	"daemonset":               {Group: "apps", Resource: "daemonsets"},
	"replicaset":              {Group: "apps", Resource: "replicasets"},
	"job":                     {Group: "batch", Resource: "jobs"},
	"cronjob":                 {Group: "batch", Resource: "cronjobs"},
	"ingress":                 {Group: "networking.k8s.io", Resource: "ingresses"},
	"horizontalpodautoscaler": {Group: "autoscaling", Resource: "horizontalpodautoscalers"},
}

// namespacesResource is the resource whose label holds a series' namespace.
var namespacesResource = schema.GroupResource{Resource: "namespaces"}

// clusterScoped are the resources prometheus-adapter serves without a namespace;
// Foresight serves namespaced objects only.
var clusterScoped = map[schema.GroupResource]bool{
	namespacesResource:              true,
	{Resource: "nodes"}:             true,
	{Resource: "persistentvolumes"}: true,
}

// groupSanitizer is how prometheus-adapter writes a group in a label template.
var groupSanitizer = strings.NewReplacer(".", "_", "-", "_")

// lookupResource finds a built-in resource by singular or plural name; group, when
// not nil, must match (sanitized or not).
func lookupResource(resource string, group *string) (schema.GroupResource, bool) {
	for singular, gr := range builtinResources {
		if resource != singular && resource != gr.Resource {
			continue
		}
		if group != nil && *group != gr.Group && *group != groupSanitizer.Replace(gr.Group) {
			continue
		}
		return gr, true
	}
	return schema.GroupResource{}, false
}

// overrideResource is the built-in resource an override names. An override
// without a group names the resource in any group, as prometheus-adapter's
// lookup in the cluster's discovery reads it: {resource: deployment} is
// deployments.apps, {resource: ingress} ingresses.networking.k8s.io.
func overrideResource(gr GroupResource) (schema.GroupResource, bool) {
	var group *string
	if gr.Group != "" {
		group = &gr.Group
	}
	return lookupResource(gr.Resource, group)
}

// resourceMap maps series labels to resources, from a rule's resources section.
type resourceMap struct {
	overrides map[string]schema.GroupResource
	// template matches labels rendered by resources.template, capturing group and resource.
	template *regexp.Regexp
}

const (
	groupMark    = "FORESIGHTGROUPMARK"
	resourceMark = "FORESIGHTRESOURCEMARK"
)

// newResourceMap maps the labels of r to resources. As prometheus-adapter's lookup in the
// cluster's discovery does, an override's resource is matched in any case, and a resource
// Foresight does not know named in the singular is taken in the plural (an HPA asks for
// brands.cheese.io, not brand.cheese.io); notes say where that happened.
func newResourceMap(r Resources) (m *resourceMap, notes []string, err error) {
	m = &resourceMap{overrides: map[string]schema.GroupResource{}}
	var errs []error
	for _, label := range slices.Sorted(maps.Keys(r.Overrides)) {
		gr := r.Overrides[label]
		if err := source.ValidateLabelName(label); err != nil {
			errs = append(errs, fmt.Errorf("overrides[%s]: %w", label, err))
			continue
		}
		if gr.Resource == "" {
			errs = append(errs, fmt.Errorf("overrides[%s].resource: required", label))
			continue
		}
		gr.Resource = strings.ToLower(gr.Resource)
		if known, ok := overrideResource(gr); ok {
			m.overrides[label] = known
			continue
		}
		if msgs := validation.IsDNS1123Label(gr.Resource); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("overrides[%s].resource: %s", label, strings.Join(msgs, "; ")))
			continue
		}
		if gr.Group != "" {
			if msgs := validation.IsDNS1123Subdomain(gr.Group); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("overrides[%s].group: %s", label, strings.Join(msgs, "; ")))
				continue
			}
		}
		// A resource Foresight does not know is taken as the plural name it is, or that
		// its singular guesses.
		if !strings.HasSuffix(gr.Resource, "s") {
			guess, _ := meta.UnsafeGuessKindToResource(schema.GroupVersionKind{Kind: gr.Resource})
			plural := guess.Resource
			notes = append(notes, fmt.Sprintf("overrides[%s].resource: %q is taken as %q, the plural name an HPA asks for (write the plural to say so)", label, gr.Resource, plural))
			gr.Resource = plural
		}
		m.overrides[label] = schema.GroupResource{Group: gr.Group, Resource: gr.Resource}
	}
	if r.Template != "" {
		re, err := templateRegexp(r.Template)
		if err != nil {
			errs = append(errs, fmt.Errorf("template: %w", err))
		}
		m.template = re
	}
	return m, notes, errors.Join(errs...)
}

// templateRegexp turns a label template such as kube_<<.Group>>_<<.Resource>> into a
// regular expression that recovers group and resource from a label name.
func templateRegexp(text string) (*regexp.Regexp, error) {
	t, err := template.New("resources.template").Delims("<<", ">>").Parse(text)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct{ Group, Resource string }{groupMark, resourceMark}); err != nil {
		return nil, err
	}
	out := b.String()
	if strings.Count(out, resourceMark) != 1 || strings.Count(out, groupMark) > 1 {
		return nil, errors.New("must use <<.Resource>> once and <<.Group>> at most once")
	}
	expr := regexp.QuoteMeta(out)
	expr = strings.Replace(expr, groupMark, "(?P<group>[a-zA-Z0-9_]*?)", 1)
	expr = strings.Replace(expr, resourceMark, "(?P<resource>[a-zA-Z0-9_]+?)", 1)
	return regexp.Compile("^" + expr + "$")
}

// resourceFor returns the resource a series label names, if any.
func (m *resourceMap) resourceFor(label string) (schema.GroupResource, bool) {
	if gr, ok := m.overrides[label]; ok {
		return gr, true
	}
	if m.template == nil {
		return schema.GroupResource{}, false
	}
	sub := m.template.FindStringSubmatch(label)
	if sub == nil {
		return schema.GroupResource{}, false
	}
	var group *string
	if i := m.template.SubexpIndex("group"); i >= 0 {
		group = &sub[i]
	}
	return lookupResource(sub[m.template.SubexpIndex("resource")], group)
}

// namespaceLabel is the label naming the namespaces resource, or "" (resourceLabel).
func (m *resourceMap) namespaceLabel(labelNames []string) string {
	return m.resourceLabel(namespacesResource, labelNames)
}

// resourceLabel is the label of labelNames that names gr, or "": where several do, as
// prometheus-adapter reads a resource's label, the one an override maps to it before one
// the template does (of several alike, the first).
func (m *resourceMap) resourceLabel(gr schema.GroupResource, labelNames []string) string {
	byTemplate := ""
	for _, l := range labelNames {
		if got, ok := m.resourceFor(l); !ok || got != gr {
			continue
		}
		if _, override := m.overrides[l]; override {
			return l
		}
		if byTemplate == "" {
			byTemplate = l
		}
	}
	return byTemplate
}
