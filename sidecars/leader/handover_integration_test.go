//go:build integration

package leader

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/foresight-dev/foresight/internal/testharness/cluster"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
)

// cuttable is an http.RoundTripper whose requests fail while cut is set: a replica that lost
// the API server (a node partitioned, a process frozen) and can neither renew nor release.
type cuttable struct {
	next http.RoundTripper
	cut  atomic.Bool
}

func (c *cuttable) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errors.New("cut off from the API server")
	}
	return c.next.RoundTrip(r)
}

// BenchmarkLeaderHandover measures, against a real kube-apiserver with the default Lease
// timing (15 s lease, 10 s renew deadline, 2 s retry period), how long the rollouts go
// without a leader when the leader stops (it gives the Lease up: a rolling update, a drain)
// and when it is cut off from the API server (the Lease must expire). Each iteration does
// both; the metrics are seconds from the event to the other replica's lead.
func BenchmarkLeaderHandover(b *testing.B) {
	ctx := context.Background()
	c, err := cluster.Start(ctx, cluster.Options{BinDir: needs.KubeBinDir(b), Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Stop)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	type replica struct {
		cancel context.CancelFunc
		done   chan struct{}
		led    chan time.Time
		link   *cuttable
	}
	start := func(identity string) *replica {
		cfg := rest.CopyConfig(c.AdminConfig)
		r := &replica{done: make(chan struct{}), led: make(chan time.Time, 1)}
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { r.link = &cuttable{next: rt}; return r.link })
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		e, err := New(Options{Client: client, Namespace: "default", Name: "handover", Identity: identity, Logger: logger})
		if err != nil {
			b.Fatal(err)
		}
		var runCtx context.Context
		runCtx, r.cancel = context.WithCancel(ctx)
		go func() {
			defer close(r.done)
			_ = e.Run(runCtx, func(ctx context.Context) { <-ctx.Done() }, func(ctx context.Context) {
				r.led <- time.Now()
				<-ctx.Done()
			})
		}()
		return r
	}
	var stopped, lost time.Duration
	for range b.N {
		first := start("first")
		<-first.led
		second := start("second")
		t0 := time.Now()
		first.cancel()
		<-first.done
		stopped += (<-second.led).Sub(t0)

		third := start("third")
		second.link.cut.Store(true)
		t0 = time.Now()
		lost += (<-third.led).Sub(t0)
		second.cancel()
		<-second.done
		third.cancel()
		<-third.done
	}
	b.ReportMetric(stopped.Seconds()/float64(b.N), "s-stopped-leader")
	b.ReportMetric(lost.Seconds()/float64(b.N), "s-cut-off-leader")
}
