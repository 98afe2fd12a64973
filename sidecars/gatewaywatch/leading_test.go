package gatewaywatch

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwfake "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/gatewayapi"
	"github.com/foresight-dev/foresight/sidecars/policy"
)

// A replica that does not lead translates and serves the Gateway API objects but writes no
// status; once it leads, a Resync writes them.
func TestOnlyTheLeaderWritesStatuses(t *testing.T) {
	gw := gwfake.NewClientset(&gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "foresight"}, Spec: gwv1.GatewayClassSpec{ControllerName: "foresight.dev/xds"}})
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		gatewayapi.CanaryPolicyGVR: "CanaryPolicyList", gatewayapi.BackendTrafficPolicyGVR: "BackendTrafficPolicyList", gatewayapi.ExperimentPolicyGVR: "ExperimentPolicyList"})
	var leading atomic.Bool
	var applied atomic.Int32
	w, err := New(Options{ControllerName: "foresight.dev/xds", Kube: k8sfake.NewClientset(), Gateway: gw, Dynamic: dyn,
		Apply: func(context.Context, policy.Spec, []*experiment.Experiment) error {
			applied.Add(1)
			return nil
		},
		Leading: leading.Load, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-w.Synced():
	case <-time.After(10 * time.Second):
		t.Fatal("not synced within 10s")
	}
	accepted := func() bool {
		c, err := gw.GatewayV1().GatewayClasses().Get(context.Background(), "foresight", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == string(gwv1.GatewayClassConditionStatusAccepted) && cond.Status == metav1.ConditionTrue {
				return true
			}
		}
		return false
	}
	if applied.Load() != 1 {
		t.Fatalf("a follower's translation was applied %d times, want 1", applied.Load())
	}
	for _, a := range gw.Actions() {
		if a.GetSubresource() == "status" {
			t.Fatalf("a follower wrote a status: %v", a)
		}
	}
	if accepted() {
		t.Fatal("the GatewayClass was accepted by a follower")
	}

	leading.Store(true)
	w.Resync()
	deadline := time.Now().Add(10 * time.Second)
	for !accepted() {
		if time.Now().After(deadline) {
			t.Fatal("the leader did not write the GatewayClass status within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
