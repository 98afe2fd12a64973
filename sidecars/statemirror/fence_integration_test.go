//go:build integration

package statemirror

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
)

// beforePatch is an http.RoundTripper that runs hook once, before the first PATCH it sends.
type beforePatch struct {
	next http.RoundTripper
	once sync.Once
	hook func()
}

func (b *beforePatch) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPatch && b.hook != nil {
		b.once.Do(b.hook)
	}
	return b.next.RoundTrip(r)
}

// Against a real kube-apiserver: a replica that takes the state ConfigMap over fences the
// former leader, whose later copies write nothing and end with ErrFenced; a write of the
// former leader that lands while the new one takes over is read, not lost; an edit of
// another key by hand does not stop the leader, nor does the ConfigMap made anew; a term
// annotation set to another by hand does.
func TestTakeOverFencesTheFormerLeader(t *testing.T) {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: needs.KubeBinDir(t), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	configMaps := c.Admin.CoreV1().ConfigMaps("default")
	if _, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "state"},
		Data: map[string]string{"canaries.json": `{"step": 1}`}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	type replica struct {
		m    *Mirror
		file string
		hook *beforePatch
		logs *bytes.Buffer
	}
	newReplica := func(name string) *replica {
		cfg := rest.CopyConfig(c.AdminConfig)
		r := &replica{file: filepath.Join(t.TempDir(), "canaries.json"), logs: &bytes.Buffer{}}
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { r.hook = &beforePatch{next: rt}; return r.hook })
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r.m = New(client.CoreV1().ConfigMaps("default"), "state", map[string]string{"canaries.json": r.file},
			prometheus.NewCounter(prometheus.CounterOpts{Name: name}), slog.New(slog.NewTextHandler(r.logs, nil)))
		return r
	}
	step := func(r *replica, content string) {
		t.Helper()
		if err := os.WriteFile(r.file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stored := func() *corev1.ConfigMap {
		t.Helper()
		cm, err := configMaps.Get(ctx, "state", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm
	}
	local := func(r *replica) string {
		b, _ := os.ReadFile(r.file)
		return string(b)
	}

	testSingleReplicaRollingUpdate(t, c)

	a, b := newReplica("a"), newReplica("b")
	if keys, err := a.m.TakeOver(ctx, "a"); err != nil || !slices.Equal(keys, []string{"canaries.json"}) || local(a) != `{"step": 1}` {
		t.Fatalf("a takes over: %v, %v, file %q", keys, err, local(a))
	}
	if cm := stored(); cm.Annotations[TermAnnotation] != "1" || cm.Annotations[WriterAnnotation] != "a" {
		t.Fatalf("after a took over: annotations %v", cm.Annotations)
	}
	step(a, `{"step": 2}`)
	if err := a.m.Sync(ctx); err != nil || stored().Data["canaries.json"] != `{"step": 2}` {
		t.Fatalf("a's step: %v, %v", err, stored().Data)
	}

	// a writes its third step while b takes over, between b's read and b's claim: b's claim
	// fails on the changed resourceVersion, and b reads again and carries on from step 3.
	b.hook.hook = func() {
		step(a, `{"step": 3}`)
		if err := a.m.Sync(ctx); err != nil {
			t.Errorf("a's step before b's claim: %v", err)
		}
	}
	if _, err := b.m.TakeOver(ctx, "b"); err != nil || local(b) != `{"step": 3}` {
		t.Fatalf("b takes over while a writes: %v, file %q; want step 3", err, local(b))
	}
	if cm := stored(); cm.Annotations[TermAnnotation] != "2" || cm.Annotations[WriterAnnotation] != "b" {
		t.Fatalf("after b took over: annotations %v", cm.Annotations)
	}

	// a has not seen the Lease lost yet: its next step is not written, now or at shutdown.
	step(a, `{"step": 4, "aborted": false}`)
	rv := stored().ResourceVersion
	if err := a.m.Sync(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("a's copy after b took over: %v, want ErrFenced", err)
	}
	if err := a.m.FinalSync(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("a's final copy: %v, want ErrFenced", err)
	}
	if cm := stored(); cm.ResourceVersion != rv || cm.Data["canaries.json"] != `{"step": 3}` {
		t.Fatalf("a fenced wrote %v", cm.Data)
	}
	if err := a.m.Run(ctx, 1); !errors.Is(err, ErrFenced) {
		t.Fatalf("a's Run: %v, want ErrFenced", err)
	}

	step(b, `{"step": 3, "aborted": true}`)
	if err := b.m.Sync(ctx); err != nil || stored().Data["canaries.json"] != `{"step": 3, "aborted": true}` {
		t.Fatalf("b's abort: %v, %v", err, stored().Data)
	}

	// An operator adds a key by hand: b's next copy conflicts, reads, and is written.
	cm := stored()
	cm.Data["note"] = "paused for the release freeze"
	if _, err := configMaps.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	step(b, `{"step": 4, "aborted": true}`)
	if err := b.m.Sync(ctx); err != nil {
		t.Fatalf("b's copy after an edit by hand: %v", err)
	}
	if cm := stored(); cm.Data["canaries.json"] != `{"step": 4, "aborted": true}` || cm.Data["note"] != "paused for the release freeze" {
		t.Fatalf("after an edit by hand and b's copy: %v", cm.Data)
	}

	// a leads again (it won the Lease back): it takes over with the next term, from b's state.
	if _, err := a.m.TakeOver(ctx, "a"); err != nil || local(a) != `{"step": 4, "aborted": true}` {
		t.Fatalf("a takes over again: %v, file %q", err, local(a))
	}
	if cm := stored(); cm.Annotations[TermAnnotation] != "3" {
		t.Fatalf("a's second term: %v", cm.Annotations)
	}
	step(b, `{"step": 5}`)
	if err := b.m.Sync(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("b after a's second term: %v, want ErrFenced", err)
	}

	// The ConfigMap made anew (deleted, then applied again by the chart) has no term: the
	// leader takes it over again and keeps its state in it.
	if err := configMaps.Delete(ctx, "state", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "state"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	step(a, `{"step": 5}`)
	if err := a.m.Sync(ctx); err != nil {
		t.Fatalf("a's copy to the ConfigMap made anew: %v", err)
	}
	if cm := stored(); cm.Data["canaries.json"] != `{"step": 5}` || cm.Annotations[TermAnnotation] != "1" || cm.Annotations[WriterAnnotation] != "a" {
		t.Fatalf("the ConfigMap made anew after a's copy: %v %v", cm.Data, cm.Annotations)
	}

	// A term set to another by hand fences the leader: it stops leading and takes the
	// ConfigMap over again rather than write beside whoever did that.
	cm = stored()
	cm.Annotations[TermAnnotation] = "9"
	if _, err := configMaps.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	step(a, `{"step": 6}`)
	if err := a.m.Sync(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("a after its term was changed by hand: %v, want ErrFenced", err)
	}
	if _, err := a.m.TakeOver(ctx, "a"); err != nil || stored().Annotations[TermAnnotation] != "10" {
		t.Fatalf("a takes over after the change: %v, %v", err, stored().Annotations)
	}
	if err := a.m.Sync(ctx); err != nil || stored().Data["canaries.json"] != `{"step": 5}` {
		t.Fatalf("a's copy after taking over: %v, %v (TakeOver adopts the ConfigMap's state)", err, stored().Data)
	}
}

// testSingleReplicaRollingUpdate: without a leader Lease, the new pod of a rolling update
// restores its missing files and claims the ConfigMap, leaving its files alone; the old pod,
// still running beside it, then writes nothing more.
func testSingleReplicaRollingUpdate(t *testing.T, c *cluster.Cluster) {
	ctx := context.Background()
	configMaps := c.Admin.CoreV1().ConfigMaps("default")
	if _, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "single"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mirror := func(name string, files map[string]string) *Mirror {
		return New(configMaps, "single", files, prometheus.NewCounter(prometheus.CounterOpts{Name: name}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	dir := t.TempDir()
	oldFile, newCanaries, newExperiments := filepath.Join(dir, "old.json"), filepath.Join(dir, "new.json"), filepath.Join(dir, "new-experiments.json")
	old := mirror("old", map[string]string{"canaries.json": oldFile})
	if err := old.Claim(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	write := func(path, content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(oldFile, `{"step": 1}`)
	if err := old.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// The new pod kept an experiments file (a restarted container), and lacks the canaries.
	write(newExperiments, `{"own": true}`)
	next := mirror("new", map[string]string{"canaries.json": newCanaries, "experiments.json": newExperiments})
	if err := next.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if err := next.Claim(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(newCanaries); string(b) != `{"step": 1}` {
		t.Errorf("restored canaries %q", b)
	}
	write(oldFile, `{"step": 2}`)
	if err := old.Sync(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("the old pod's copy after the new one claimed the ConfigMap: %v, want ErrFenced", err)
	}
	if err := next.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	cm, err := configMaps.Get(ctx, "single", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["canaries.json"] != `{"step": 1}` || cm.Data["experiments.json"] != `{"own": true}` || cm.Annotations[WriterAnnotation] != "new" {
		t.Errorf("after the rolling update: %v %v", cm.Data, cm.Annotations)
	}
}
