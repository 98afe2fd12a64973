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
// and a new leader carries on from it (Pull, before it leads).
package statemirror

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/foresight-dev/foresight/internal/atomicfile"
)

// MaxFileBytes bounds one mirrored file: a ConfigMap holds at most 1 MiB in all.
const MaxFileBytes = 512 << 10

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
// every interval, until ctx ends. Call FinalSync after it, so that a change made just before a shutdown is
// kept.
func (m *Mirror) Run(ctx context.Context, interval time.Duration) {
	every(ctx, interval, m.Sync)
}

// FinalSync is Sync once more, within a few seconds, when ctx may have ended already.
func (m *Mirror) FinalSync(ctx context.Context) {
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	m.Sync(final)
}

// Follow copies the ConfigMap to the local files at once and then every interval until ctx
// ends, calling
// pulled with the key of each file it changed (see Pull).
func (m *Mirror) Follow(ctx context.Context, interval time.Duration, pulled func(key string)) {
	every(ctx, interval, func(ctx context.Context) {
		keys, _ := m.Pull(ctx) // a failure is counted and logged by Pull
		for _, k := range keys {
			pulled(k)
		}
	})
}

// every calls f at once and then every interval, until ctx ends.
func every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	if ctx.Err() != nil {
		return
	}
	f(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
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
	changed, err := m.pull(ctx)
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

// pull is Pull; called with m.mu held.
func (m *Mirror) pull(ctx context.Context) ([]string, error) {
	cm, err := m.configMaps.Get(ctx, m.name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("state ConfigMap %s: %w", m.name, err)
	}
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
func (m *Mirror) Sync(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, path := range m.files {
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) || (err == nil && string(data) == string(m.synced[key])) {
			continue
		}
		if err == nil && len(data) > MaxFileBytes {
			err = fmt.Errorf("%d bytes, more than the %d a ConfigMap key may hold here", len(data), MaxFileBytes)
		}
		if err == nil {
			err = m.patch(ctx, key, data)
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
}

// patch sets one key of the ConfigMap, leaving the others (a JSON merge patch).
func (m *Mirror) patch(ctx context.Context, key string, data []byte) error {
	body, err := json.Marshal(map[string]any{"data": map[string]string{key: string(data)}})
	if err != nil {
		return err
	}
	_, err = m.configMaps.Patch(ctx, m.name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "foresight-xds"})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("ConfigMap %s does not exist (the chart and the manifests create it): %w", m.name, err)
	}
	return err
}
