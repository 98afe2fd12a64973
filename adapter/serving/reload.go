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

// Reloader keeps a Loop's rules in step with one or more rule files: it checks
// the files' content hash every interval and on SIGHUP. Valid new files replace
// the rules (the rules of every file, in order); an invalid one is refused,
// logged and counted, and the last good rules keep serving.
type Reloader struct {
	paths    []string
	load     RuleLoader
	loop     *Loop
	metrics  *Metrics
	log      *slog.Logger
	interval time.Duration
	refresh  time.Duration // force a reload this often (0: never)

	mu       sync.Mutex
	lastHash [32]byte // hash of the last file contents tried, good or bad
}

// NewReloader returns a Reloader of paths into loop. interval <= 0 uses DefaultReloadInterval.
func NewReloader(paths []string, load RuleLoader, loop *Loop, metrics *Metrics, log *slog.Logger, interval time.Duration) *Reloader {
	if log == nil {
		log = slog.Default()
	}
	if interval <= 0 {
		interval = DefaultReloadInterval
	}
	return &Reloader{paths: paths, load: load, loop: loop, metrics: metrics, log: log, interval: interval}
}

// Reload reads and applies the rule files if their contents changed since the
// last attempt (or always, when force is set). It returns the files' errors;
// on error the running rules are left untouched.
func (r *Reloader) Reload(force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	datas := make([][]byte, len(r.paths))
	hash := sha256.New()
	for i, p := range r.paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return r.fail(fmt.Errorf("read rule file: %w", err))
		}
		datas[i] = data
		fmt.Fprintf(hash, "%d:%d\n", len(p), len(data))
		hash.Write(data)
	}
	var h [32]byte
	hash.Sum(h[:0])
	if !force && h == r.lastHash {
		return nil
	}
	r.lastHash = h
	var rules []Rule
	for i, p := range r.paths {
		got, err := r.load(p, datas[i])
		if err != nil {
			return r.fail(err)
		}
		rules = append(rules, got...)
	}
	if err := r.loop.SetRules(rules); err != nil {
		return r.fail(err)
	}
	r.metrics.reloads.WithLabelValues("success").Inc()
	r.metrics.lastReload.Set(1)
	r.log.Info("rules loaded", "files", r.paths, "rules", len(rules))
	return nil
}

func (r *Reloader) fail(err error) error {
	r.metrics.reloads.WithLabelValues("failure").Inc()
	r.metrics.lastReload.Set(0)
	r.log.Error("rule file refused; the last good rules keep serving", "files", r.paths, "err", err)
	return err
}

// RefreshEvery makes Run reload the files every d even when they did not change,
// for loaders whose rules depend on more than the files (the metric discovery
// of imported prometheus-adapter configs). Call it before Run.
func (r *Reloader) RefreshEvery(d time.Duration) { r.refresh = d }

// Run checks the files every interval and on SIGHUP, and reloads them every
// refresh interval, until ctx is done.
func (r *Reloader) Run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	var refresh <-chan time.Time
	if r.refresh > 0 {
		rt := time.NewTicker(r.refresh)
		defer rt.Stop()
		refresh = rt.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-refresh:
			_ = r.Reload(true)
		case <-hup:
			r.log.Info("SIGHUP: reloading rules", "files", r.paths)
			_ = r.Reload(true)
		case <-t.C:
			_ = r.Reload(false)
		}
	}
}
