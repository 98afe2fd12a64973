package discovery

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/foresight-dev/foresight/sidecars/policy"
)

type ep struct {
	addr                        string
	ready, serving, terminating *bool
	zone                        string
}

func slice(ns, svc, name string, port int32, portName string, eps ...ep) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(port)}},
	}
	for _, e := range eps {
		de := discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminating}}
		if e.zone != "" {
			de.Zone = ptr.To(e.zone)
		}
		sl.Endpoints = append(sl.Endpoints, de)
	}
	return sl
}

func TestEndpointsReadyAndServing(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	slices2 := []*discoveryv1.EndpointSlice{
		slice("shop", "cart", "cart-a", 8080, "http",
			ep{addr: "10.0.0.2", ready: yes, zone: "z1"},
			ep{addr: "10.0.0.1"}, // no ready condition: ready
			ep{addr: "10.0.0.3", ready: no, serving: yes, terminating: yes},
			ep{addr: "10.0.0.4", ready: no, serving: no}),
		slice("shop", "cart", "cart-b", 8080, "http", ep{addr: "10.0.0.2", ready: yes, zone: "z1"}), // duplicate
	}
	got := Endpoints(slices2, "http")
	want := []policy.Endpoint{{Address: "10.0.0.1", Port: 8080, Weight: 1}, {Address: "10.0.0.2", Port: 8080, Weight: 1, Zone: "z1"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Endpoints = %+v, want %+v", got, want)
	}
	// With nothing ready, serving terminating endpoints keep the service reachable.
	only := []*discoveryv1.EndpointSlice{slice("shop", "cart", "cart-a", 8080, "http",
		ep{addr: "10.0.0.3", ready: no, serving: yes, terminating: yes}, ep{addr: "10.0.0.4", ready: no, serving: no})}
	if got := Endpoints(only, "http"); !slices.Equal(got, []policy.Endpoint{{Address: "10.0.0.3", Port: 8080, Weight: 1}}) {
		t.Fatalf("terminating fallback = %+v", got)
	}
	if got := Endpoints(slices2, "grpc"); len(got) != 0 {
		t.Fatalf("port name grpc matched %+v", got)
	}
	if got := Endpoints(slices2, ""); len(got) != 2 {
		t.Fatalf("single unnamed port lookup gave %+v", got)
	}
}

type sinkRecorder struct {
	mu  sync.Mutex
	got map[string][]policy.Endpoint
}

func (s *sinkRecorder) sink(_ context.Context, cluster string, eps []policy.Endpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[cluster] = eps
	return nil
}

func (s *sinkRecorder) wait(t *testing.T, cluster string, want []string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		var addrs []string
		for _, e := range s.got[cluster] {
			addrs = append(addrs, e.Address)
		}
		s.mu.Unlock()
		if slices.Equal(addrs, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s endpoints %v, want %v", cluster, addrs, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatcherFollowsEndpointSlices(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	client := fake.NewClientset(
		slice("shop", "cart", "cart-a", 8080, "http", ep{addr: "10.0.0.1", ready: yes}, ep{addr: "10.0.0.2", ready: no}),
		slice("other", "cart", "cart-x", 8080, "http", ep{addr: "10.9.9.9", ready: yes}), // another namespace
	)
	rec := &sinkRecorder{got: map[string][]policy.Endpoint{}}
	w := NewWatcher(client, rec.sink, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer w.Stop()
	w.SetTargets(ctx, []Target{{Cluster: "cart.shop", Namespace: "shop", Service: "cart", PortName: "http"}})
	rec.wait(t, "cart.shop", []string{"10.0.0.1"})

	// The second pod becomes ready.
	sl := slice("shop", "cart", "cart-a", 8080, "http", ep{addr: "10.0.0.1", ready: yes}, ep{addr: "10.0.0.2", ready: yes})
	if _, err := client.DiscoveryV1().EndpointSlices("shop").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "cart.shop", []string{"10.0.0.1", "10.0.0.2"})

	// A second slice adds a pod; deleting the first removes two.
	if _, err := client.DiscoveryV1().EndpointSlices("shop").Create(ctx, slice("shop", "cart", "cart-b", 8080, "http", ep{addr: "10.0.0.3", ready: yes}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "cart.shop", []string{"10.0.0.1", "10.0.0.2", "10.0.0.3"})
	if err := client.DiscoveryV1().EndpointSlices("shop").Delete(ctx, "cart-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "cart.shop", []string{"10.0.0.3"})
	if got := w.Endpoints("cart.shop"); len(got) != 1 || got[0].Port != 8080 {
		t.Fatalf("Endpoints() = %+v", got)
	}
}

func TestTargets(t *testing.T) {
	p := &policy.Policy{Spec: policy.Spec{Services: []policy.Service{
		{Name: "a", Namespace: "ns", Discovery: policy.DiscoveryKubernetes, PortName: "http"},
		{Name: "b", Namespace: "ns", Discovery: policy.DiscoveryStatic},
	}}}
	got := Targets(p)
	if len(got) != 1 || got[0] != (Target{Cluster: "a.ns", Namespace: "ns", Service: "a", PortName: "http"}) {
		t.Fatalf("Targets = %+v", got)
	}
}
