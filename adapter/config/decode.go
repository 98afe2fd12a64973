package config

import (
	"errors"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/internal/strictyaml"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// decoder walks a rule file's YAML into a File with strictyaml's primitives, adding the
// rule file's own scalar kinds (Prometheus durations, reactiveFloor).
type decoder struct {
	*strictyaml.Decoder
}

// decode returns the File and the problems found decoding it. A nil File
// comes with one error (the input is not a YAML mapping); a non-nil File
// may come with errors about some of its fields, which are then left zero.
func decode(data []byte, filename string) (*File, strictyaml.Errors) {
	docs, err := strictyaml.Documents(data, filename)
	if err != nil {
		var errs strictyaml.Errors
		errors.As(err, &errs)
		return nil, errs
	}
	switch {
	case len(docs) == 0:
		return nil, strictyaml.Errors{{File: filename, Msg: "file is empty"}}
	case len(docs) > 1:
		return nil, strictyaml.Errors{{File: filename, Line: docs[1].Line, Msg: "more than one YAML document; a rule file holds exactly one"}}
	}
	d := &decoder{strictyaml.NewDecoder(filename)}
	f := &File{Filename: filename, lines: d.Lines}
	root := docs[0]
	d.Mapping(root, "", map[string]func(*yaml.Node, string){
		"apiVersion": func(n *yaml.Node, p string) { f.APIVersion = d.String(n, p) },
		"kind":       func(n *yaml.Node, p string) { f.Kind = d.String(n, p) },
		"rules": func(n *yaml.Node, p string) {
			items := d.Sequence(n, p)
			f.Rules = make([]Rule, len(items))
			for i, item := range items {
				d.rule(item, strictyaml.Item(p, i), &f.Rules[i])
			}
		},
		"resourceMetrics": func(n *yaml.Node, p string) { f.ResourceMetrics = d.resourceMetrics(n, p) },
	})
	if r := strictyaml.Resolve(root); r != nil && r.Kind != yaml.MappingNode && !strictyaml.IsNull(r) {
		return nil, d.Errs // "must be a mapping"
	}
	return f, d.Errs
}

func (d *decoder) rule(n *yaml.Node, path string, r *Rule) {
	r.Line = n.Line
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"name":  func(n *yaml.Node, p string) { r.Name = d.String(n, p) },
		"query": func(n *yaml.Node, p string) { r.Query = d.String(n, p) },
		"api":   func(n *yaml.Node, p string) { r.API = API(d.String(n, p)) },
		"resources": func(n *yaml.Node, p string) {
			d.Mapping(n, p, map[string]func(*yaml.Node, string){
				"namespaceLabel": func(n *yaml.Node, p string) { r.Resources.NamespaceLabel = d.String(n, p) },
				"group":          func(n *yaml.Node, p string) { r.Resources.Group = d.String(n, p) },
				"resource":       func(n *yaml.Node, p string) { r.Resources.Resource = d.String(n, p) },
				"label":          func(n *yaml.Node, p string) { r.Resources.Label = d.String(n, p) },
				"clusterWide": func(n *yaml.Node, p string) {
					if on, ok := d.Bool(n, p); ok {
						r.Resources.ClusterWide = on
					}
				},
			})
		},
		"forecast": func(n *yaml.Node, p string) {
			f := &r.Forecast
			d.Mapping(n, p, map[string]func(*yaml.Node, string){
				"horizon": func(n *yaml.Node, p string) { f.Horizon = d.duration(n, p) },
				"quantile": func(n *yaml.Node, p string) {
					// 0 would read as "unset" and get the default: refuse it here.
					before := len(d.Errs)
					if f.Quantile = d.Float(n, p); f.Quantile == 0 && len(d.Errs) == before {
						d.Errorf(n, p, "must be in (0,1), got 0")
					}
				},
				"model":         func(n *yaml.Node, p string) { f.Model = forecast.Model(d.String(n, p)) },
				"history":       func(n *yaml.Node, p string) { f.History = d.duration(n, p) },
				"refitInterval": func(n *yaml.Node, p string) { f.RefitInterval = d.duration(n, p) },
				"step":          func(n *yaml.Node, p string) { f.Step = d.duration(n, p) },
				"reactiveFloor": func(n *yaml.Node, p string) {
					if on, ok := d.Bool(n, p); ok {
						f.NoReactiveFloor = !on
					}
				},
				"filterSpikes": func(n *yaml.Node, p string) { f.FilterSpikes = d.spikeFilter(n, p) },
				"staleAfter":   func(n *yaml.Node, p string) { f.StaleAfter = d.duration(n, p) },
			})
		},
		"cost":     func(n *yaml.Node, p string) { r.Cost = d.cost(n, p) },
		"shadow":   func(n *yaml.Node, p string) { r.Shadow = d.shadow(n, p) },
		"schedule": func(n *yaml.Node, p string) { r.Schedule = d.schedule(n, p) },
		"events":   func(n *yaml.Node, p string) { r.Events = d.events(n, p) },
		"queue":    func(n *yaml.Node, p string) { r.Queue = d.queue(n, p) },
		"share":    func(n *yaml.Node, p string) { r.Share = d.share(n, p) },
		"slo":      func(n *yaml.Node, p string) { r.SLO = d.slo(n, p) },
	})
}

// spikeFilter decodes a forecast's filterSpikes: true (on), false (off) or
// "auto".
func (d *decoder) spikeFilter(n *yaml.Node, path string) forecast.SpikeFilter {
	const want = `true, false or "auto"`
	n, ok := d.Scalar(n, path, want)
	if !ok {
		return ""
	}
	switch {
	case n.Tag == "!!bool" && n.Value == "true":
		return forecast.SpikeFilterOn
	case n.Tag == "!!bool" && n.Value == "false":
		return forecast.SpikeFilterOff
	case n.Tag == "!!str" && n.Value == string(forecast.SpikeFilterAuto):
		return forecast.SpikeFilterAuto
	}
	d.Errorf(n, path, "must be %s, got %q", want, n.Value)
	return ""
}

// duration decodes a positive Prometheus-style duration ("5m", "14d").
func (d *decoder) duration(n *yaml.Node, path string) time.Duration {
	n, ok := d.Scalar(n, path, `a duration like "5m" or "14d"`)
	if !ok {
		return 0
	}
	v, err := model.ParseDuration(n.Value)
	if err != nil {
		d.Errorf(n, path, `must be a duration like "5m" or "14d", got %q`, n.Value)
		return 0
	}
	if v <= 0 {
		d.Errorf(n, path, "must be positive, got %q", n.Value)
		return 0
	}
	return time.Duration(v)
}

func modelDuration(d time.Duration) string { return model.Duration(d).String() }
