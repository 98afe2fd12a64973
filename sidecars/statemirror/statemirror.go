// Package statemirror keeps the control plane's state files (canary rollouts, experiment
// aborts) in a ConfigMap as well as on local disk, so that they outlive the pod: a
// Deployment's rolling update or a node drain replaces the pod and its emptyDir, and a
// rollout must not restart from its first step nor an abort be forgotten.
//
// The local files stay the primary copy (a restarted container reads them without the API
// server). At start, Restore writes each file that is missing locally from its key in the
// ConfigMap; then Run copies every change of a file to its key.
//
// With several replicas, the leader copies its files to the ConfigMap (Run) and the others
// copy the ConfigMap to their files (Follow), so that they serve what the leader decided
// and a new leader carries on from it (TakeOver, before it leads).
//
// A Lease does not stop a former leader that has not yet seen it lost (a paused process, a
// slow API server) from writing once more. TakeOver therefore fences the ConfigMap: it
// numbers the leader's term in an annotation, and every later copy of that leader is a
// patch conditional on the ConfigMap's resourceVersion. A copy that finds another term has
// taken the ConfigMap over writes nothing and ends with ErrFenced, so a former leader can
// neither undo a step nor forget an abort that the new one has written.
package statemirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/foresight-dev/foresight/internal/atomicfile"
)

// MaxFileBytes bounds one mirrored file: a ConfigMap holds at most 1 MiB in all.
const MaxFileBytes = 512 << 10

// Annotations of the state ConfigMap written by TakeOver and by each copy of a leader.
const (
	// TermAnnotation is the number of the leader's term: one more than the term it found.
	TermAnnotation = "foresight.dev/state-term"
	// WriterAnnotation names the replica that holds that term (its Lease identity).
	WriterAnnotation = "foresight.dev/state-writer"
)

// ErrFenced is returned by the copies of a leader after another replica took the state
// ConfigMap over (or its term annotation was set to another by hand): what this replica
// decided is no longer the leader's, and it writes nothing until it takes the ConfigMap over
// again.
var ErrFenced = errors.New("another replica took the state ConfigMap over")

// fence is the term a leader took the ConfigMap over with.
type fence struct {
	term   string // TermAnnotation's value
	writer string
	// resourceVersion of the ConfigMap as this leader last wrote or read it: the
	// precondition of its next copy.
	resourceVersion string
	// lost: a copy found another term; nothing is written until the next TakeOver.
	lost bool
}

// Mirror mirrors state files to the keys of one ConfigMap.
type Mirror struct {
	configMaps corev1client.ConfigMapInterface
	name       string
	files      map[string]string // ConfigMap key: local path
	log        *slog.Logger

	failures prometheus.Counter

	// mu serialises the copies: Run, Follow and Pull may be called from several goroutines.
	mu     sync.Mutex
	synced map[string][]byte // key: the content last written to or read from the ConfigMap
	failed map[string]bool   // key: the last copy to the ConfigMap failed (logged once until it recovers)
	// pullFailed: the last copy from the ConfigMap failed (logged once until it recovers).
	pullFailed bool
	invalid    map[string]string // key: the content not JSON last logged
	fence      *fence            // nil until TakeOver: copies are unconditional
}

// New returns a Mirror of files (ConfigMap key to local path) to the ConfigMap name of
// configMaps, which must exist (the chart and the manifests create it, empty). failures
// counts the changes not copied (each attempt).
func New(configMaps corev1client.ConfigMapInterface, name string, files map[string]string, failures prometheus.Counter, log *slog.Logger) *Mirror {
	return &Mirror{configMaps: configMaps, name: name, files: files, failures: failures, log: log, synced: map[string][]byte{}, failed: map[string]bool{}, invalid: map[string]string{}}
}

// Restore writes every file that does not exist locally from its key in the ConfigMap. A key
// that is absent or not a JSON document is left out (logged): the file then starts empty,
// as on a first start, rather than stopping the control plane. An error means the ConfigMap
// could not be read.
func (m *Mirror) Restore(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cm, err := m.configMaps.Get(ctx, m.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("state ConfigMap %s: %w", m.name, err)
	}
	for key, path := range m.files {
		if _, err := os.Stat(path); err == nil {
			m.log.Info("state file kept: it outlived the container restart", "file", path)
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("state file %s: %w", path, err)
		}
		data, ok := cm.Data[key]
		if !ok {
			continue
		}
		if written, err := m.adopt(key, path, data); err != nil {
			return err
		} else if written {
			m.log.Info("state restored from the ConfigMap", "configmap", m.name, "key", key, "file", path)
		}
	}
	return nil
}

// adopt writes data, the ConfigMap's content of key, to its local file path and says whether
// it did: content that is not a JSON document is left out, and logged once for each content.
// Called with m.mu held.
func (m *Mirror) adopt(key, path, data string) (bool, error) {
	if !json.Valid([]byte(data)) {
		if m.invalid[key] != data {
			m.log.Error("state in the ConfigMap is not JSON; left out", "configmap", m.name, "key", key)
			m.invalid[key] = data
		}
		return false, nil
	}
	delete(m.invalid, key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("state file %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, []byte(data)); err != nil {
		return false, err
	}
	m.synced[key] = []byte(data)
	return true, nil
}

// Run copies each file to its key whenever its content changes, looking at once and then
// every interval, until ctx ends or a copy finds the ConfigMap taken over (ErrFenced, the
// only error returned). Call FinalSync after it, unless it returned ErrFenced, so that a
// change made just before a shutdown is kept.
func (m *Mirror) Run(ctx context.Context, interval time.Duration) error {
	return every(ctx, interval, m.Sync)
}

// FinalSync is Sync once more, within a few seconds, when ctx may have ended already.
func (m *Mirror) FinalSync(ctx context.Context) error {
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return m.Sync(final)
}

// Follow copies the ConfigMap to the local files at once and then every interval until ctx
// ends, calling pulled with the key of each file it changed (see Pull).
func (m *Mirror) Follow(ctx context.Context, interval time.Duration, pulled func(key string)) {
	_ = every(ctx, interval, func(ctx context.Context) error {
		keys, _ := m.Pull(ctx) // a failure is counted and logged by Pull
		for _, k := range keys {
			pulled(k)
		}
		return nil
	})
}

// every calls f at once and then every interval, until ctx ends or f returns an error,
// which it returns.
func every(ctx context.Context, interval time.Duration, f func(context.Context) error) error {
	if ctx.Err() != nil {
		return nil
	}
	if err := f(ctx); err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := f(ctx); err != nil {
				return err
			}
		}
	}
}

// Pull writes every key of the ConfigMap whose content differs from its local file to that
// file and returns those keys, in no order. A key that is absent leaves its file alone; one
// that is not a JSON document is left out (logged). A failure is counted, logged once until
// a Pull succeeds again, and returned.
func (m *Mirror) Pull(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reading(func() ([]string, error) {
		cm, err := m.get(ctx)
		if err != nil {
			return nil, err
		}
		return m.adoptAll(cm)
	})
}

// TakeOver is Pull for a replica about to lead, writer its name: it also takes the
// ConfigMap over with the next term, in one patch conditional on the content it read (read
// again when another write came between), so that the copies of any former leader are
// fenced from then on (ErrFenced) and its own are conditional on what it last wrote.
func (m *Mirror) TakeOver(ctx context.Context, writer string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reading(func() ([]string, error) {
		var changed []string
		err := m.claim(ctx, writer, func(cm *corev1.ConfigMap) error {
			keys, err := m.adoptAll(cm)
			changed = appendNew(changed, keys...)
			return err
		})
		return changed, err
	})
}

// Claim takes the ConfigMap over as writer, as TakeOver does, but leaves the local files
// alone: for a replica that runs without a leader Lease, whose files are the primary copy
// (Restore brought back those it lacked), so that another pod writing beside it (the old
// pod of a rolling update) is fenced from then on. A failure is counted and returned.
func (m *Mirror) Claim(ctx context.Context, writer string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.claim(ctx, writer, func(*corev1.ConfigMap) error { return nil })
	if err != nil {
		m.failures.Inc()
	}
	return err
}

// claim takes the ConfigMap over as writer with the next term, in a patch conditional on the
// ConfigMap read, after calling read with it; on a conflict (another write came between) it
// reads again. Until it succeeds, nothing is written. Called with m.mu held.
func (m *Mirror) claim(ctx context.Context, writer string, read func(*corev1.ConfigMap) error) error {
	m.fence = &fence{lost: true} // the former term's fence holds no more, even if this fails
	for {
		cm, err := m.get(ctx)
		if err != nil {
			return err
		}
		if err := read(cm); err != nil {
			return err
		}
		f := &fence{term: strconv.FormatUint(termOf(cm.Annotations)+1, 10), writer: writer, resourceVersion: cm.ResourceVersion}
		updated, err := m.patch(ctx, f, nil)
		if apierrors.IsConflict(err) {
			continue // another replica wrote once more: read what it wrote
		}
		if err != nil {
			return err
		}
		f.resourceVersion = updated.ResourceVersion
		m.fence = f
		m.log.Info("state ConfigMap taken over", "configmap", m.name, "term", f.term, "writer", writer)
		return nil
	}
}

// termOf is the term in a ConfigMap's annotations: 0 when absent or not a number.
func termOf(annotations map[string]string) uint64 {
	n, _ := strconv.ParseUint(annotations[TermAnnotation], 10, 64)
	return n
}

// appendNew appends to list each key not in it.
func appendNew(list []string, keys ...string) []string {
	for _, k := range keys {
		if !slices.Contains(list, k) {
			list = append(list, k)
		}
	}
	return list
}

// reading runs read, a copy from the ConfigMap, and counts and logs its failure (once until
// a copy succeeds again). Called with m.mu held.
func (m *Mirror) reading(read func() ([]string, error)) ([]string, error) {
	changed, err := read()
	if err != nil {
		m.failures.Inc()
		if !m.pullFailed {
			m.log.Error("the leader's state not copied from the ConfigMap; serving the last one copied (retrying)", "configmap", m.name, "error", err)
		}
		m.pullFailed = true
		return changed, err
	}
	if m.pullFailed {
		m.log.Info("the leader's state copied from the ConfigMap again", "configmap", m.name)
	}
	m.pullFailed = false
	return changed, nil
}

// get reads the ConfigMap.
func (m *Mirror) get(ctx context.Context) (*corev1.ConfigMap, error) {
	cm, err := m.configMaps.Get(ctx, m.name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("state ConfigMap %s: %w", m.name, err)
	}
	return cm, nil
}

// adoptAll writes each key of cm whose content differs from its local file to that file and
// returns those keys; called with m.mu held.
func (m *Mirror) adoptAll(cm *corev1.ConfigMap) ([]string, error) {
	var changed []string
	for key, path := range m.files {
		data, ok := cm.Data[key]
		if !ok {
			continue
		}
		if local, err := os.ReadFile(path); err == nil && string(local) == data {
			m.synced[key] = local
			continue
		}
		written, err := m.adopt(key, path, data)
		if err != nil {
			return changed, err
		}
		if written {
			changed = append(changed, key)
		}
	}
	return changed, nil
}

// Sync copies every file whose content differs from what was last written to its key.
// A failed copy is counted, logged once until it succeeds again, and tried again by the
// next Sync; the error returned is ErrFenced alone, when the ConfigMap was taken over since
// this replica's TakeOver (nothing is written then).
func (m *Mirror) Sync(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fence != nil && m.fence.lost {
		return ErrFenced
	}
	for key, path := range m.files {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) || (err == nil && string(data) == string(m.synced[key])) {
			continue
		}
		if err == nil && len(data) > MaxFileBytes {
			err = fmt.Errorf("%d bytes, more than the %d a ConfigMap key may hold here", len(data), MaxFileBytes)
		}
		if err == nil {
			err = m.write(ctx, key, data)
		}
		if errors.Is(err, ErrFenced) {
			m.log.Warn("state not copied: another replica took the state ConfigMap over", "configmap", m.name, "key", key, "term", m.fence.term)
			return err
		}
		if err != nil {
			m.failures.Inc()
			if !m.failed[key] {
				m.log.Error("state not copied to the ConfigMap; it would be lost with the pod (retrying)", "configmap", m.name, "key", key, "error", err)
			}
			m.failed[key] = true
			continue
		}
		if m.failed[key] {
			m.log.Info("state copied to the ConfigMap again", "configmap", m.name, "key", key)
		}
		m.failed[key] = false
		m.synced[key] = data
	}
	return nil
}

// write sets one key of the ConfigMap. Under a fence, a conflict (another write since this
// replica's last) is resolved by reading the ConfigMap: when it still holds this replica's
// term (someone edited another key, or a former leader wrote before it saw the fence), or no
// term at all (it was made anew), the key is written again on what was read, under this
// replica's term; when it holds another, the fence is lost.
// Called with m.mu held.
func (m *Mirror) write(ctx context.Context, key string, data []byte) error {
	values := map[string]string{key: string(data)}
	updated, err := m.patch(ctx, m.fence, values)
	if m.fence == nil || !apierrors.IsConflict(err) {
		if err == nil && m.fence != nil {
			m.fence.resourceVersion = updated.ResourceVersion
		}
		return err
	}
	cm, err := m.get(ctx)
	if err != nil {
		return err
	}
	switch term := cm.Annotations[TermAnnotation]; {
	case term == "":
		// The ConfigMap was made anew (or its term removed by hand): no one holds it, and
		// this replica takes it over again rather than stop keeping its state.
		m.fence.term = "1"
		m.log.Warn("state ConfigMap without a term (made anew?): taken over again", "configmap", m.name, "term", m.fence.term)
	case term != m.fence.term || cm.Annotations[WriterAnnotation] != m.fence.writer:
		m.fence.lost = true
		return ErrFenced
	}
	m.fence.resourceVersion = cm.ResourceVersion
	updated, err = m.patch(ctx, m.fence, values)
	if err == nil {
		m.fence.resourceVersion = updated.ResourceVersion
	}
	return err
}

// patch sets the keys of data in the ConfigMap, leaving the others (a JSON merge patch).
// Under a fence f (nil: none) it also writes f's term and writer, and is conditional on f's
// resourceVersion: it fails with a conflict when the ConfigMap changed since.
func (m *Mirror) patch(ctx context.Context, f *fence, data map[string]string) (*corev1.ConfigMap, error) {
	content := map[string]any{}
	if data != nil {
		content["data"] = data
	}
	if f != nil {
		content["metadata"] = map[string]any{
			"resourceVersion": f.resourceVersion,
			"annotations":     map[string]string{TermAnnotation: f.term, WriterAnnotation: f.writer},
		}
	}
	body, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	updated, err := m.configMaps.Patch(ctx, m.name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "foresight-xds"})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("ConfigMap %s does not exist (the chart and the manifests create it): %w", m.name, err)
	}
	return updated, err
}
