// Package charts renders the Helm charts of deploy/charts with the Helm v4 SDK and the
// kustomize bases of deploy/ with the kustomize library, into objects a test compares.
package charts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Release names a release: its name and namespace.
type Release struct {
	Name      string
	Namespace string
}

// Load loads the chart in dir.
func Load(dir string) (*chart.Chart, error) {
	c, err := loader.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	return c, nil
}

// Render renders the chart in dir as `helm template` does (no cluster: lookup finds
// nothing), with vals over the chart's values.yaml, and returns the rendered manifest.
// Values the schema refuses are an error naming the value.
func Render(dir string, rel Release, vals map[string]any) (string, error) {
	r, err := renderChart(dir, rel, vals, "")
	if err != nil {
		return "", err
	}
	return r.Manifest, nil
}

// Notes renders the chart as Render does and returns its NOTES.txt.
func Notes(dir string, rel Release, vals map[string]any) (string, error) {
	r, err := renderChart(dir, rel, vals, "")
	if err != nil {
		return "", err
	}
	return r.Info.Notes, nil
}

// RenderIn renders the chart as `helm install --dry-run=server` does against the cluster of
// kubeconfig: lookup reads the objects there, as on an upgrade.
func RenderIn(kubeconfig, dir string, rel Release, vals map[string]any) (string, error) {
	r, err := renderChart(dir, rel, vals, kubeconfig)
	if err != nil {
		return "", err
	}
	return r.Manifest, nil
}

// renderChart installs the chart as a dry run (against the cluster of kubeconfig, or none)
// and returns the release.
func renderChart(dir string, rel Release, vals map[string]any, kubeconfig string) (*release.Release, error) {
	c, err := Load(dir)
	if err != nil {
		return nil, err
	}
	cfg := &action.Configuration{}
	cfg.SetLogger(slog.NewTextHandler(io.Discard, nil))
	strategy := action.DryRunClient
	if kubeconfig != "" {
		flags := genericclioptions.NewConfigFlags(false)
		flags.KubeConfig, flags.Namespace = &kubeconfig, &rel.Namespace
		if err := cfg.Init(flags, rel.Namespace, "memory"); err != nil {
			return nil, fmt.Errorf("render chart %s: %w", dir, err)
		}
		strategy = action.DryRunServer
	}
	install := action.NewInstall(cfg)
	install.DryRunStrategy = strategy
	install.ReleaseName = rel.Name
	install.Namespace = rel.Namespace
	install.Replace = true
	r, err := install.RunWithContext(context.Background(), c, vals)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", dir, err)
	}
	rr, ok := r.(*release.Release)
	if !ok {
		return nil, fmt.Errorf("render chart %s: unexpected release type %T", dir, r)
	}
	return rr, nil
}

// Lint lints the chart in dir with vals as `helm lint --strict` does and returns each
// message at warning level or above (informational ones, such as a missing icon, are not
// returned).
func Lint(dir, namespace string, vals map[string]any) []string {
	l := action.NewLint()
	l.Strict = true
	l.Namespace = namespace
	res := l.Run([]string{dir}, vals)
	var out []string
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			out = append(out, m.Error())
		}
	}
	return out
}

// Kustomize renders the kustomization in dir.
func Kustomize(dir string) (string, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return "", fmt.Errorf("kustomize %s: %w", dir, err)
	}
	y, err := m.AsYaml()
	if err != nil {
		return "", fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return string(y), nil
}

// Objects decodes a multi-document YAML stream into objects, skipping empty documents.
func Objects(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode manifest (object %d): %w", len(out)+1, err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

// Key identifies an object: kind, namespace and name.
func Key(o *unstructured.Unstructured) string {
	var b bytes.Buffer
	b.WriteString(o.GetKind())
	b.WriteByte('/')
	if ns := o.GetNamespace(); ns != "" {
		b.WriteString(ns)
		b.WriteByte('/')
	}
	b.WriteString(o.GetName())
	return b.String()
}
