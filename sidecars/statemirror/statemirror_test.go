package statemirror

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// A follower's Pull copies the keys that changed to their files and names them, leaves a
// key the leader never wrote alone, skips a key that is not JSON (logged once for each
// content), and counts a failed read while serving the files it has.
func TestPullCopiesTheLeadersState(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"canaries.json": filepath.Join(dir, "state", "canaries.json"), "experiments.json": filepath.Join(dir, "experiments.json")}
	if err := os.WriteFile(files["experiments.json"], []byte(`{"own": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "state"},
		Data: map[string]string{"canaries.json": `{"web": {"weight": 20}}`}})
	var logs bytes.Buffer
	failures := prometheus.NewCounter(prometheus.CounterOpts{Name: "failures"})
	m := New(client.CoreV1().ConfigMaps("ns"), "state", files, failures, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()

	keys, err := m.Pull(ctx)
	if err != nil || !slices.Equal(keys, []string{"canaries.json"}) {
		t.Fatalf("first pull: %v, %v; want [canaries.json]", keys, err)
	}
	if b, _ := os.ReadFile(files["canaries.json"]); string(b) != `{"web": {"weight": 20}}` {
		t.Errorf("canaries.json %q", b)
	}
	if b, _ := os.ReadFile(files["experiments.json"]); string(b) != `{"own": {}}` {
		t.Errorf("a key absent from the ConfigMap changed its file: %q", b)
	}
	if keys, err := m.Pull(ctx); err != nil || len(keys) != 0 {
		t.Errorf("pull without a change: %v, %v; want none", keys, err)
	}

	set := func(key, value string) {
		t.Helper()
		cm, err := client.CoreV1().ConfigMaps("ns").Get(ctx, "state", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data[key] = value
		if _, err := client.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	set("canaries.json", "{broken")
	for range 3 {
		if keys, err := m.Pull(ctx); err != nil || len(keys) != 0 {
			t.Fatalf("pull of broken state: %v, %v", keys, err)
		}
	}
	if n := strings.Count(logs.String(), "not JSON"); n != 1 {
		t.Errorf("broken state logged %d times in 3 pulls, want once", n)
	}
	if b, _ := os.ReadFile(files["canaries.json"]); string(b) != `{"web": {"weight": 20}}` {
		t.Errorf("broken state replaced the file: %q", b)
	}
	set("canaries.json", `{"web": {"weight": 60}}`)
	if keys, err := m.Pull(ctx); err != nil || !slices.Equal(keys, []string{"canaries.json"}) {
		t.Errorf("pull after the leader's next step: %v, %v", keys, err)
	}

	client.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("API server unreachable")
	})
	if _, err := m.Pull(ctx); err == nil || testutil.ToFloat64(failures) != 1 {
		t.Errorf("unreachable API server: %v, %v failures", err, testutil.ToFloat64(failures))
	}
	if b, _ := os.ReadFile(files["canaries.json"]); string(b) != `{"web": {"weight": 60}}` {
		t.Errorf("a failed pull changed the file: %q", b)
	}
}

// What a follower pulled counts as synced: when it leads, Sync writes only what changes
// after that, with a merge patch that leaves the other keys.
func TestSyncAfterPullWritesOnlyChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "canaries.json")
	client := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "state"},
		Data: map[string]string{"canaries.json": `{"web": {"weight": 20}}`, "other": "kept"}})
	m := New(client.CoreV1().ConfigMaps("ns"), "state", map[string]string{"canaries.json": path},
		prometheus.NewCounter(prometheus.CounterOpts{Name: "failures"}), slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	ctx := context.Background()
	if _, err := m.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	client.ClearActions()
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "patch" {
			t.Fatalf("Sync wrote what it had just pulled: %v", a)
		}
	}
	if err := os.WriteFile(path, []byte(`{"web": {"weight": 60}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	cm, err := client.CoreV1().ConfigMaps("ns").Get(ctx, "state", metav1.GetOptions{})
	if err != nil || cm.Data["canaries.json"] != `{"web": {"weight": 60}}` || cm.Data["other"] != "kept" {
		t.Errorf("after the leader's change: %v, %v", cm.Data, err)
	}
}
