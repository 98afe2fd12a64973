package config

import (
	"math"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/adapter/slo"
)

// SLO makes a rule serve replica demand at the utilisation that meets an
// under-provisioning objective (package slo): the operator states the share
// of time the workload may be under-provisioned and a ceiling on
// utilisation, the HPA uses target AverageValue 1, and the rule serves
// V = L / (capacity * u), with u chosen by replaying each series' own
// recent history through the HPA model.
//
//	slo:
//	  capacity: 50             # load one replica serves at 100% utilisation
//	  underProvisioned: 0.005  # allowed share of under-provisioned time
//	  maxUtilization: 0.95     # ceiling on u
//	  minUtilization: 0.3      # floor on u (default 0.3)
//	  reactiveTarget: 0.7      # reactive baseline compared in /metrics; u starts there (default 0.7)
//	  window: 7d               # history replayed per evaluation (default 7d)
//	  minReplicas: 1           # the HPA's bounds and its pods' start-up, as
//	  maxReplicas: 1000        # the replay simulates them (defaults as the
//	  startupDelay: 2m         # shadow section's)
type SLO struct {
	// Config is the controller's configuration (Step and HPA are filled in
	// by the serving loop).
	Config slo.Config

	underSet bool // the file sets underProvisioned (0 is a valid objective)
}

func (d *decoder) slo(n *yaml.Node, path string) *SLO {
	s := &SLO{}
	c := &s.Config
	d.Mapping(n, path, map[string]func(*yaml.Node, string){
		"capacity": func(n *yaml.Node, path string) { c.Capacity = d.Float(n, path) },
		"underProvisioned": func(n *yaml.Node, path string) {
			c.UnderProvisioned, s.underSet = d.Float(n, path), true
		},
		"maxUtilization": func(n *yaml.Node, path string) { c.MaxUtilization = d.Float(n, path) },
		"minUtilization": func(n *yaml.Node, path string) { c.MinUtilization = d.Float(n, path) },
		"reactiveTarget": func(n *yaml.Node, path string) { c.ReactiveTarget = d.Float(n, path) },
		"window":         func(n *yaml.Node, path string) { c.Window = d.duration(n, path) },
		"minReplicas":    func(n *yaml.Node, p string) { c.HPA.MinReplicas = int32(d.Int(n, p, 0, math.MaxInt32)) },
		"maxReplicas":    func(n *yaml.Node, p string) { c.HPA.MaxReplicas = int32(d.Int(n, p, 1, math.MaxInt32)) },
		"startupDelay":   func(n *yaml.Node, path string) { c.HPA.StartupDelay = d.duration(n, path) },
	})
	return s
}

// SetDefaults fills the SLO section's unset fields.
func (s *SLO) SetDefaults() {
	s.Config.SetDefaults()
	h := &s.Config.HPA
	if h.MaxReplicas == 0 {
		h.MaxReplicas = DefaultShadowMaxReplicas
	}
	if h.StartupDelay == 0 {
		h.StartupDelay = DefaultShadowStartupDelay
	}
	if h.SyncPeriod == 0 {
		h.SyncPeriod = DefaultShadowSyncPeriod
	}
}

// ControllerConfig returns the controller configuration for series sampled every step.
func (s *SLO) ControllerConfig(step time.Duration) slo.Config {
	c := s.Config
	c.Step = step
	return c
}

func (s *SLO) validate(p string, r *Rule, add func(field, format string, args ...any)) {
	at := func(field string) string { return p + "." + field }
	switch {
	case !(s.Config.Capacity > 0):
		add(at("capacity"), "required: the load one replica serves at 100%% utilisation, in the query's unit, > 0")
	case !s.underSet:
		add(at("underProvisioned"), "required: the allowed share of under-provisioned time, in [0, 1), e.g. 0.005")
	default:
		if err := s.ControllerConfig(max(r.Forecast.Step, time.Second)).Validate(); err != nil {
			msg := strings.TrimPrefix(err.Error(), "slo: ")
			add(p, "%s", msg)
		}
	}
	if r.Cost != nil {
		add(p, "an SLO rule chooses its own utilisation and cannot also be cost-weighted: drop cost or slo")
	}
	if r.Queue != nil {
		add(p, "a queue rule serves worker demand and cannot also run in SLO mode: drop queue or slo")
	}
}
