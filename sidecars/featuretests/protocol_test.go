package featuretests

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	envoy_config_cluster_v3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/xds/xdstest"
)

const weighted = "../translate/testdata/weighted.yaml"

func counter(t *testing.T, cp *controlPlane, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := cp.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func TestInvalidPolicyChangeIsNeverServed(t *testing.T) {
	p := loadPolicy(t, weighted)
	cp := startControlPlane(t, p)
	s := cp.open(t, nodeFor(*p.Group("web")))
	exchange(t, s, resourcev3.ClusterType)
	eds := exchange(t, s, resourcev3.EndpointType, "backend.test", "backend-v2.test")

	bad := p.Clone()
	for i := range bad.Service("backend").Routes[0].Backends {
		bad.Service("backend").Routes[0].Backends[i].Weight = 0 // a split without weight
	}
	err := cp.rec.SetPolicy(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "weight") {
		t.Fatalf("SetPolicy(bad) = %v, want a weight error", err)
	}
	if r, err := s.Recv(300 * time.Millisecond); err == nil {
		t.Fatalf("a refused policy reached the proxy: %v", r)
	}
	if got := counter(t, cp, "foresight_xds_config_reloads_total", map[string]string{"result": "failure"}); got != 1 {
		t.Errorf("reload failures = %v, want 1", got)
	}

	good := p.Clone()
	good.Service("backend-v2").Endpoints = append(good.Service("backend-v2").Endpoints, policy.Endpoint{Address: "10.0.2.2", Port: 8080, Weight: 1})
	if err := cp.rec.SetPolicy(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.GetTypeUrl() != resourcev3.EndpointType || r.GetVersionInfo() == eds.GetVersionInfo() {
		t.Fatalf("after a good change got %s version %s", r.GetTypeUrl(), r.GetVersionInfo())
	}
}

func TestNACKIsCountedAndLogged(t *testing.T) {
	p := loadPolicy(t, weighted)
	cp := startControlPlane(t, p)
	s := cp.open(t, nodeFor(*p.Group("edge")))
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	r, err := s.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.NACK(r, "cluster backend.test: unsupported field"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for counter(t, cp, "foresight_xds_nacks_total", map[string]string{"node": "edge-0", "type": "cluster"}) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("NACK not counted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	logs := cp.logs.String()
	for _, want := range []string{"proxy rejected configuration (NACK)", `"node":"edge-0"`, `"group":"edge"`, "unsupported field"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
}

func TestDeltaClusters(t *testing.T) {
	p := loadPolicy(t, weighted)
	cp := startControlPlane(t, p)
	sotw := exchange(t, cp.open(t, nodeFor(*p.Group("web"))), resourcev3.ClusterType)
	var want []string
	for _, a := range sotw.GetResources() {
		want = append(want, unpack[envoy_config_cluster_v3.Cluster](t, a).GetName())
	}
	slices.Sort(want)

	conn, err := xdstest.Dial(cp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := xdstest.OpenDelta(ctx, conn, nodeFor(*p.Group("web")))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	r, err := d.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, res := range r.GetResources() {
		got = append(got, res.GetName())
		if res.GetVersion() == "" {
			t.Errorf("delta resource %s has no version", res.GetName())
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("delta clusters %v, state-of-the-world clusters %v", got, want)
	}
	if err := d.ACK(r); err != nil {
		t.Fatal(err)
	}
	// Drop backend-v2 from the canary: delta sends only the removal of its cluster.
	next := p.Clone()
	rt := &next.Service("backend").Routes[0]
	rt.Backends = []policy.Backend{{Service: "backend", Weight: 100}}
	next.Spec.VirtualHosts[0].Routes[0].Backends = []policy.Backend{{Service: "backend", Weight: 100}}
	if err := cp.rec.SetPolicy(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	r, err = d.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetResources()) != 0 || !slices.Equal(r.GetRemovedResources(), []string{"backend-v2.test"}) {
		t.Fatalf("delta update: %d resources, removed %v; want only backend-v2.test removed", len(r.GetResources()), r.GetRemovedResources())
	}
}
