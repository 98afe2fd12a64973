package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/foresight-dev/foresight/sidecars/statemirror"
)

// A leader whose copy finds the state ConfigMap taken over by another replica stops leading
// at once (its controllers drive nothing more) and makes no final copy.
func TestLeadStopsWhenTheStateIsTakenOver(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "foresight", Name: "state"}})
	path := filepath.Join(t.TempDir(), "canaries.json")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	mirror := statemirror.New(client.CoreV1().ConfigMaps("foresight"), "state", map[string]string{canariesKey: path},
		prometheus.NewCounter(prometheus.CounterOpts{Name: "failures"}), log)
	var statuses atomic.Int32
	s := &stateKeeper{mirror: mirror, leading: new(atomic.Bool), writeStatuses: func() { statuses.Add(1) }, log: log}

	leadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	led := make(chan struct{})
	go func() { s.lead(leadCtx, "me"); close(led) }()
	waitFor(t, "leading", s.leading.Load)
	if statuses.Load() != 1 {
		t.Errorf("statuses written %d times on taking the lead, want once", statuses.Load())
	}
	cm, err := client.CoreV1().ConfigMaps("foresight").Get(ctx, "state", metav1.GetOptions{})
	if err != nil || cm.Annotations[statemirror.WriterAnnotation] != "me" {
		t.Fatalf("the ConfigMap after taking the lead: %v, %v", cm, err)
	}

	// Another replica takes the ConfigMap over (the fake API server does not check
	// resourceVersions: the conflict it would answer is made here).
	cm.Annotations[statemirror.TermAnnotation] = "7"
	cm.Annotations[statemirror.WriterAnnotation] = "other"
	if _, err := client.CoreV1().ConfigMaps("foresight").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var patches atomic.Int32
	client.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		patches.Add(1)
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "state", nil)
	})
	if err := os.WriteFile(path, []byte(`{"web": {"step": 2}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	<-led
	if s.leading.Load() {
		t.Error("still leading after the ConfigMap was taken over")
	}
	if n := patches.Load(); n != 1 {
		t.Errorf("%d patches after the ConfigMap was taken over, want the one that found it (no final copy)", n)
	}
	if !strings.Contains(logs.String(), "stops leading") {
		t.Errorf("not logged:\n%s", logs.String())
	}
	cancel()
}

// A pod without a leader Lease takes the state ConfigMap over and copies its state to it;
// once another pod has taken it over (the new pod of a rolling update), its next copy stops
// it driving, and it serves the other pod's state from then on.
func TestSingleFollowsOnceTheStateIsTakenOver(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "foresight", Name: "state"}})
	configMaps := client.CoreV1().ConfigMaps("foresight")
	path := filepath.Join(t.TempDir(), "experiments.json")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	mirror := statemirror.New(configMaps, "state", map[string]string{experimentsKey: path},
		prometheus.NewCounter(prometheus.CounterOpts{Name: "failures"}), log)
	leading := new(atomic.Bool)
	leading.Store(true)
	s := &stateKeeper{mirror: mirror, leading: leading, log: log}
	done := make(chan struct{})
	go func() { s.single(ctx); close(done) }()

	const mine = `{"mine": {"reason": "this pod's abort"}}`
	if err := os.WriteFile(path, []byte(mine), 0o600); err != nil {
		t.Fatal(err)
	}
	var cm *corev1.ConfigMap
	waitFor(t, "this pod's state in the ConfigMap", func() bool {
		var err error
		cm, err = configMaps.Get(ctx, "state", metav1.GetOptions{})
		return err == nil && cm.Data[experimentsKey] == mine
	})
	if !leading.Load() {
		t.Fatal("not driving while it holds the ConfigMap")
	}

	// The new pod takes the ConfigMap over and writes its state (the fake API server does
	// not check resourceVersions: the conflict it would answer is made here).
	const theirs = `{"theirs": {"reason": "the new pod's abort"}}`
	cm.Annotations[statemirror.TermAnnotation] = "7"
	cm.Annotations[statemirror.WriterAnnotation] = "new-pod"
	cm.Data[experimentsKey] = theirs
	if _, err := configMaps.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	client.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "state", nil)
	})
	if err := os.WriteFile(path, []byte(`{"stale": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "stopped driving", func() bool { return !leading.Load() })
	waitFor(t, "the new pod's state served", func() bool {
		got, err := os.ReadFile(path)
		return err == nil && string(got) == theirs
	})
	if got, err := configMaps.Get(ctx, "state", metav1.GetOptions{}); err != nil || got.Data[experimentsKey] != theirs {
		t.Errorf("the ConfigMap holds %v (%v), want the new pod's state", got.Data, err)
	}
	if !strings.Contains(logs.String(), "stops driving") {
		t.Errorf("not logged:\n%s", logs.String())
	}
	cancel()
	<-done
}
