package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/adapter/source"
)

// Share makes a rule serve its forecast times a share in [0, 1] read from a second query:
// the share of a route's traffic that one backend gets. With foresight-xds' canary weights
// (foresight_canary_backend_weight, in percent, for the current and the next step) a
// canary's HPA scales for the traffic it will receive at the next step, before the step is
// taken:
//
//	query: sum by (namespace) (rate(grpc_server_handled_total{<<.LabelMatchers>>,grpc_service="greeter"}[1m]))
//	share:
//	  query: max by (namespace) (foresight_canary_backend_weight{<<.LabelMatchers>>,service="greeter-v2"}) / 100
//
// Each share series applies to the rule's series with the same values of the On labels
// (default: the namespace label). A series without a fresh share (none newer than the
// rule's staleAfter), or with two, is served stale: the HPA holds its replicas.
type Share struct {
	// Query is the PromQL template of the share. Required.
	Query string
	// On are the labels that match share series to the rule's series.
	On []string
}

func (d *decoder) share(n *yaml.Node, path string) *Share {
	s := &Share{}
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"query": func(n *yaml.Node, path string) { s.Query = d.String(n, path) },
		"on": func(n *yaml.Node, path string) {
			if n.Kind != yaml.SequenceNode {
				d.Errorf(n, path, "must be a list of label names")
				return
			}
			for i, c := range n.Content {
				s.On = append(s.On, d.String(c, fmt.Sprintf("%s[%d]", path, i)))
			}
		},
	})
	return s
}

func (s *Share) validate(p string, r *Rule, add func(field, format string, args ...any)) {
	if s.Query == "" {
		add(p+".query", "required: the PromQL of the share in [0, 1], e.g. max by (namespace) (foresight_canary_backend_weight{<<.LabelMatchers>>,service=\"greeter-v2\"}) / 100")
	} else if err := r.validateQuery(s.Query); err != nil {
		add(p+".query", "%v", err)
	}
	for i, l := range s.On {
		if err := source.ValidateLabelName(l); err != nil {
			add(fmt.Sprintf("%s.on[%d]", p, i), "%v", err)
		}
	}
	if r.Queue != nil {
		add(p, "a queue rule serves worker demand, not load: drop share or queue")
	}
}
