package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/foresight-dev/foresight/internal/testharness/promserver"
)

// startPrometheus runs the Prometheus server on dataDir with no scrape jobs
// and checks that it sees every series of sets at the current time.
func startPrometheus(ctx context.Context, bin, dataDir string, sets []seriesSet) (_ *promserver.Server, err error) {
	p, err := promserver.New(promserver.Options{
		Bin: bin, Dir: filepath.Dir(dataDir), DataDir: dataDir,
		Config:       "global:\n  evaluation_interval: 1m\n",
		Retention:    60 * 24 * time.Hour,
		ReadyTimeout: 5 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.Stop()
		}
	}()
	c, err := promapi.NewClient(promapi.Config{Address: p.URL})
	if err != nil {
		return nil, fmt.Errorf("prometheus client: %w", err)
	}
	api := promv1.NewAPI(c)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for _, s := range sets {
		q := "count(" + s.metric + ")"
		v, _, _, err := api.Query(wctx, q, time.Now())
		if err != nil {
			return nil, fmt.Errorf("prometheus query %s: %w", q, err)
		}
		vec, ok := v.(model.Vector)
		if !ok || len(vec) != 1 || int(vec[0].Value) != s.series() {
			return nil, fmt.Errorf("prometheus query %s = %v, want %d: the written block was not read", q, v, s.series())
		}
		// The oldest sample must be there too: history is what the adapters load.
		q = fmt.Sprintf("count(%s offset %dm)", s.metric, int(s.history.Minutes())-1)
		v, _, _, err = api.Query(wctx, q, time.Now())
		if err != nil {
			return nil, fmt.Errorf("prometheus query %s: %w", q, err)
		}
		if vec, ok := v.(model.Vector); !ok || len(vec) != 1 || int(vec[0].Value) != s.series() {
			return nil, fmt.Errorf("prometheus query %s = %v, want %d: the history is not all there", q, v, s.series())
		}
	}
	return p, nil
}

// prometheusVersion returns the first line of `prometheus --version`.
func prometheusVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "prometheus (version unknown)"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	if i := strings.Index(line, " (branch"); i > 0 {
		line = line[:i]
	}
	return line
}

// promValue returns Prometheus's value of the instant query q now, for display.
func (b *bench) promValue(ctx context.Context, q string) string {
	c, err := promapi.NewClient(promapi.Config{Address: b.promURL})
	if err != nil {
		return err.Error()
	}
	v, _, _, err := promv1.NewAPI(c).Query(ctx, q, time.Now())
	if err != nil {
		return err.Error()
	}
	if vec, ok := v.(model.Vector); ok && len(vec) == 1 {
		return strconv.FormatFloat(float64(vec[0].Value), 'f', 2, 64)
	}
	return v.String()
}
