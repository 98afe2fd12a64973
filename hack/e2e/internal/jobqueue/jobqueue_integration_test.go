//go:build integration

package jobqueue

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/internal/testharness/needs"
)

// redis starts a real redis-server for the test and returns its address.
func redis(t *testing.T) string {
	t.Helper()
	bin := needs.Program(t, "redis-server")
	p, addr, err := StartRedis(context.Background(), "redis", t.TempDir(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	return addr
}

// TestPoolConsumesEveryJobOnce pushes bursts onto a real Redis list while the
// pool scales 0 -> 3 -> 1 -> 0 -> 2 and checks that every job is popped
// exactly once, that a stopped consumer does not pop, and that consumers are
// ready only after their start-up delay.
func TestPoolConsumesEveryJobOnce(t *testing.T) {
	addr := redis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ledger := NewLedger()
	pool, err := NewPool(PoolOptions{Addr: addr, Key: "jobs", StartupDelay: 300 * time.Millisecond, Throughput: 200, Ledger: ledger})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	start := time.Now().Add(100 * time.Millisecond)
	bursts := []Burst{{At: start, Length: 500 * time.Millisecond, Jobs: 100}, {At: start.Add(1500 * time.Millisecond), Length: 500 * time.Millisecond, Jobs: 150}}
	readyAtFirst := map[int]int{}
	done := make(chan error, 1)
	go func() {
		done <- Produce(ctx, prod, "jobs", bursts, ledger, func(k int) { readyAtFirst[k] = pool.Ready() })
	}()
	pool.Scale(3)
	if r := pool.Ready(); r != 0 {
		t.Errorf("%d consumers ready right after starting, want 0 (start-up delay)", r)
	}
	time.Sleep(700 * time.Millisecond)
	pool.Scale(1)
	if r, n := pool.Ready(), pool.Running(); r > 1 || n != 1 {
		t.Errorf("after scaling to 1: %d ready, %d running", r, n)
	}
	time.Sleep(300 * time.Millisecond)
	pool.Scale(0)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Nothing pops while the pool is at zero.
	_, pops := ledger.Counts()
	time.Sleep(200 * time.Millisecond)
	if _, again := ledger.Counts(); again != pops {
		t.Errorf("%d pops with no consumer", again-pops)
	}
	pool.Scale(2)
	for deadline := time.Now().Add(time.Minute); ; {
		n, err := prod.LLen("jobs")
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs still queued", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ledger.Check(); err != nil {
		t.Error(err)
	}
	if pushed, pops := ledger.Counts(); pushed != 250 || pops != 250 {
		t.Errorf("%d pushed, %d popped, want 250 and 250", pushed, pops)
	}
	t.Logf("ready consumers at each burst's first job: %v", readyAtFirst)
}

// TestExporterReportsListLength checks what the e2e rules read from Debian's
// redis_exporter: the list length and the LPUSH count.
func TestExporterReportsListLength(t *testing.T) {
	addr := redis(t)
	bin := needs.Program(t, "prometheus-redis-exporter")
	p, expAddr, err := StartExporter(context.Background(), "exporter", t.TempDir(), bin, addr, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	c, err := Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range []string{"x", "y", "z"} {
		if err := c.LPush("jobs", id); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + expAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{`redis_key_size{db="db0",key="jobs"} 3`, `redis_commands_total{cmd="lpush"} 3`, "redis_up 1"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("exporter /metrics has no %q", want)
		}
	}
}
