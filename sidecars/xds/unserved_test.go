package xds

import (
	"context"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestUnservedTypeLeavesTheStreamServing checks a proxy that asks on its ADS stream for
// types the control plane does not serve (an SDS secret its bootstrap points at ADS, a type
// no one knows) keeps getting its clusters and listeners, and their later updates, on the
// same stream, state of the world and delta alike; the requests are counted by type.
func TestUnservedTypeLeavesTheStreamServing(t *testing.T) {
	f := start(t, "p1")
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": webConfig(t, 9000)}); err != nil {
		t.Fatal(err)
	}
	s := open(t, f, "web")
	for _, typeURL := range []string{resourcev3.SecretType, "type.googleapis.com/example.Unknown"} {
		if err := s.Subscribe(typeURL, "gateway-cert"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(recvType(t, s, resourcev3.ClusterType)); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(resourcev3.ListenerType); err != nil {
		t.Fatal(err)
	}
	if err := s.ACK(recvType(t, s, resourcev3.ListenerType)); err != nil {
		t.Fatal(err)
	}
	c := webConfig(t, 9000)
	c.Clusters = append(c.Clusters, cluster("c.default"))
	c.Endpoints = append(c.Endpoints, assignment("c.default", 9002))
	if err := f.srv.Apply(context.Background(), map[string]Config{"web": c}); err != nil {
		t.Fatal(err)
	}
	if r := recvType(t, s, resourcev3.ClusterType); len(r.GetResources()) != 3 {
		t.Fatalf("cluster update: %d clusters, want 3", len(r.GetResources()))
	}

	d := openDelta(t, f, "web-2", "web")
	if err := d.Subscribe(resourcev3.SecretType, "gateway-cert"); err != nil {
		t.Fatal(err)
	}
	if err := d.Subscribe(resourcev3.ClusterType); err != nil {
		t.Fatal(err)
	}
	r, err := d.Recv(5 * time.Second)
	if err != nil || r.GetTypeUrl() != resourcev3.ClusterType || len(r.GetResources()) != 3 {
		t.Fatalf("delta after a secret request: %v, %v; want the 3 clusters", r, err)
	}

	for label, want := range map[string]float64{"secret": 2, "other": 1} {
		if got := testutil.ToFloat64(f.srv.metrics.unserved.WithLabelValues(label)); got != want {
			t.Errorf("unserved %s requests %v, want %v", label, got, want)
		}
	}
}
