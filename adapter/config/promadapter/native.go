package promadapter

import (
	"bytes"
	"fmt"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/adapter/config"
)

// nativeRule is the YAML of an imported rule in Foresight's rule file: the fields
// an import sets (no cost or shadow sections).
type nativeRule struct {
	Name      string          `yaml:"name"`
	API       string          `yaml:"api"`
	Query     string          `yaml:"query"`
	Resources nativeResources `yaml:"resources"`
	Forecast  nativeForecast  `yaml:"forecast"`
}

type nativeResources struct {
	NamespaceLabel string `yaml:"namespaceLabel"`
	Group          string `yaml:"group,omitempty"`
	Resource       string `yaml:"resource,omitempty"`
	Label          string `yaml:"label,omitempty"`
	ClusterWide    bool   `yaml:"clusterWide,omitempty"`
}

// nativeResourceMetrics is the YAML of config.ResourceMetrics.
type nativeResourceMetrics struct {
	Window string                `yaml:"window"`
	CPU    nativeResourceQueries `yaml:"cpu"`
	Memory nativeResourceQueries `yaml:"memory"`
}

type nativeResourceQueries struct {
	ContainerQuery string `yaml:"containerQuery"`
	NodeQuery      string `yaml:"nodeQuery"`
	NamespaceLabel string `yaml:"namespaceLabel"`
	PodLabel       string `yaml:"podLabel"`
	ContainerLabel string `yaml:"containerLabel"`
	NodeLabel      string `yaml:"nodeLabel"`
}

type nativeForecast struct {
	Model   string `yaml:"model"`
	Step    string `yaml:"step"`
	Horizon string `yaml:"horizon"`
	History string `yaml:"history"`
}

// NativeYAML writes the imported rules of f (and its resource metrics) as a Foresight rule file, headed by
// comment lines (each written after "# "). Only the fields an import sets are
// written, so it is meant for files from Import.
func NativeYAML(f *config.File, comments []string) ([]byte, error) {
	var b bytes.Buffer
	for _, c := range comments {
		fmt.Fprintf(&b, "# %s\n", c)
	}
	doc := struct {
		APIVersion string       `yaml:"apiVersion"`
		Kind       string       `yaml:"kind"`
		Rules      []nativeRule `yaml:"rules"`
		// ResourceMetrics are the imported resourceRules.
		ResourceMetrics *nativeResourceMetrics `yaml:"resourceMetrics,omitempty"`
	}{APIVersion: config.APIVersion, Kind: config.Kind, Rules: []nativeRule{}}
	if m := f.ResourceMetrics; m != nil {
		q := func(r config.ResourceQueries) nativeResourceQueries {
			return nativeResourceQueries{
				ContainerQuery: r.ContainerQuery, NodeQuery: r.NodeQuery,
				NamespaceLabel: r.NamespaceLabel, PodLabel: r.PodLabel, ContainerLabel: r.ContainerLabel, NodeLabel: r.NodeLabel,
			}
		}
		doc.ResourceMetrics = &nativeResourceMetrics{Window: model.Duration(m.Window).String(), CPU: q(m.CPU), Memory: q(m.Memory)}
	}
	for _, r := range f.Rules {
		res := nativeResources{NamespaceLabel: r.Resources.NamespaceLabel, Label: r.Resources.Label, ClusterWide: r.Resources.ClusterWide}
		if r.API == config.APIObject {
			res.Group, res.Resource = r.Resources.Group, r.Resources.Resource
		}
		doc.Rules = append(doc.Rules, nativeRule{
			Name: r.Name, API: string(r.API), Query: r.Query, Resources: res,
			Forecast: nativeForecast{
				Model: string(r.Forecast.Model), Step: model.Duration(r.Forecast.Step).String(),
				Horizon: model.Duration(r.Forecast.Horizon).String(), History: model.Duration(r.Forecast.History).String(),
			},
		})
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
