package xds

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/foresight-dev/foresight/sidecars/translate"
)

// Update checks every node group's resources with Options.Check (ValidateAll plus reference
// checks) and serves them only when all pass; otherwise nothing is served, the failure is
// counted in foresight_xds_snapshots_rejected_total and logged, and the last good
// configuration stays.
func (s *Server) Update(ctx context.Context, groups map[string]*translate.Resources) error {
	c, err := s.check(groups)
	if err != nil {
		return s.reject(err)
	}
	return s.serve(ctx, c)
}

// checked is a configuration that passed every check of Update, indexed and versioned,
// ready for serve.
type checked struct {
	groups map[string]*groupState
	eds    map[string]types.Resource
}

// check runs Options.Check on every node group's resources and prepares the result as Apply
// does (field validation, names, endpoints shared by groups); it serves, counts and logs
// nothing, so it is also the dry run of Update.
func (s *Server) check(groups map[string]*translate.Resources) (*checked, error) {
	configs := make(map[string]Config, len(groups))
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		r := groups[g]
		if r == nil {
			return nil, fmt.Errorf("node group %q: no resources", g)
		}
		if err := s.opts.Check.Check(r); err != nil {
			return nil, fmt.Errorf("node group %q: %w", g, err)
		}
		configs[g] = ConfigOf(r)
	}
	next, eds, err := s.prepare(configs)
	if err != nil {
		return nil, err
	}
	return &checked{groups: next, eds: eds}, nil
}

// ConfigOf converts translated resources to a Config.
func ConfigOf(r *translate.Resources) Config {
	var c Config
	for _, l := range r.Listeners {
		c.Listeners = append(c.Listeners, l)
	}
	for _, rc := range r.Routes {
		c.Routes = append(c.Routes, rc)
	}
	for _, cl := range r.Clusters {
		c.Clusters = append(c.Clusters, cl)
	}
	for _, e := range r.Endpoints {
		c.Endpoints = append(c.Endpoints, types.Resource(e))
	}
	return c
}
