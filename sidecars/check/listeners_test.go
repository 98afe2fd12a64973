package check_test

import (
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/sidecars/check"
)

// TestCheckGatewayListeners checks a gateway group with a listener per port passes, and
// that a reference of its second listener that does not resolve is still found.
func TestCheckGatewayListeners(t *testing.T) {
	r := resources(t, "listeners", "edge")
	if len(r.Listeners) != 2 {
		t.Fatalf("listeners %d, want 2", len(r.Listeners))
	}
	r.Routes = r.Routes[:1] // drop edge/gateway-443
	if err := check.Check(r); err == nil || !strings.Contains(err.Error(), `listener "gateway-443": route configuration "edge/gateway-443" (RDS) does not exist`) {
		t.Errorf("missing route configuration: %v", err)
	}
	r = resources(t, "listeners", "edge")
	r.Clusters, r.Endpoints = nil, nil
	if err := check.Check(r); err == nil || !strings.Contains(err.Error(), `route "edge/gateway-443": virtual host "site" route "site-web": cluster "web.test" does not exist`) {
		t.Errorf("missing cluster: %v", err)
	}
}
