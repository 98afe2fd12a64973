package serving

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// DefaultReloadInterval is how often the rule file is checked for changes.
const DefaultReloadInterval = 3 * time.Second

// RuleLoader turns the contents of the rule file into rules. path is for error messages.
type RuleLoader func(path string, data []byte) ([]Rule, error)

// Reloader keeps a Loop's rules in step with a rule file: it checks the file's
// content hash every interval and on SIGHUP. A valid new file replaces the
// rules; an invalid one is refused, logged and counted, and the last good
// rules keep serving.
type Reloader struct {
	path     string
	load     RuleLoader
	loop     *Loop
	metrics  *Metrics
	log      *slog.Logger
	interval time.Duration

	mu       sync.Mutex
	lastHash [32]byte // hash of the last file contents tried, good or bad
}

// NewReloader returns a Reloader of path into loop. interval <= 0 uses DefaultReloadInterval.
func NewReloader(path string, load RuleLoader, loop *Loop, metrics *Metrics, log *slog.Logger, interval time.Duration) *Reloader {
	if log == nil {
		log = slog.Default()
	}
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	return &Reloader{path: path, load: load, loop: loop, metrics: metrics, log: log, interval: interval}
}

// Reload reads and applies the rule file if its contents changed since the
// last attempt (or always, when force is set). It returns the file's errors;
// on error the running rules are left untouched.
func (r *Reloader) Reload(force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	data, err := os.ReadFile(r.path)
	if err != nil {
		return r.fail(fmt.Errorf("read rule file: %w", err))
	}
	h := sha256.Sum256(data)
	if !force && h == r.lastHash {
		return nil
	}
	r.lastHash = h
	rules, err := r.load(r.path, data)
	if err != nil {
		return r.fail(err)
	}
	if err := r.loop.SetRules(rules); err != nil {
		return r.fail(err)
	}
	r.metrics.reloads.WithLabelValues("success").Inc()
	r.metrics.lastReload.Set(1)
	r.log.Info("rules loaded", "file", r.path, "rules", len(rules))
	return nil
}

func (r *Reloader) fail(err error) error {
	r.metrics.reloads.WithLabelValues("failure").Inc()
	r.metrics.lastReload.Set(0)
	r.log.Error("rule file refused; the last good rules keep serving", "file", r.path, "err", err)
	return err
}

// Run checks the file every interval and on SIGHUP until ctx is done.
func (r *Reloader) Run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.log.Info("SIGHUP: reloading rules", "file", r.path)
			_ = r.Reload(true)
		case <-t.C:
			_ = r.Reload(false)
		}
	}
}
