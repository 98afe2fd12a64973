package leader

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// candidate runs an Elector and records what its follow and lead saw.
type candidate struct {
	e        *Elector
	cancel   context.CancelFunc
	done     chan struct{}
	leading  atomic.Bool
	led      atomic.Int32
	lostSeen atomic.Bool
	// holderAtEnd is the Lease's holder when lead returned on a stop.
	holderAtEnd atomic.Value
}

func start(t *testing.T, client *fake.Clientset, identity string, overlap *atomic.Int32) *candidate {
	t.Helper()
	e, err := New(Options{Client: client, Namespace: "foresight", Name: "xds", Identity: identity,
		LeaseDuration: time.Second, RenewDeadline: 600 * time.Millisecond, RetryPeriod: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{e: e, cancel: cancel, done: make(chan struct{})}
	var running atomic.Int32 // follow and lead of this candidate running at once
	enter := func() {
		if running.Add(1) > 1 {
			overlap.Add(1)
		}
	}
	follow := func(ctx context.Context) { enter(); <-ctx.Done(); running.Add(-1) }
	lead := func(ctx context.Context) {
		enter()
		c.led.Add(1)
		c.leading.Store(true)
		<-ctx.Done()
		c.leading.Store(false)
		if errors.Is(context.Cause(ctx), ErrLeaseLost) {
			c.lostSeen.Store(true)
		} else if l, err := client.CoordinationV1().Leases("foresight").Get(context.Background(), "xds", metav1.GetOptions{}); err == nil && l.Spec.HolderIdentity != nil {
			c.holderAtEnd.Store(*l.Spec.HolderIdentity)
		}
		running.Add(-1)
	}
	go func() {
		defer close(c.done)
		if err := e.Run(ctx, follow, lead); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// One of two candidates leads; when it stops, it gives the Lease up (rather than leaving it
// to expire) only after lead has returned, and the other takes over.
func TestOneLeadsAndHandsOverOnStop(t *testing.T) {
	client := fake.NewClientset()
	var overlap atomic.Int32
	a := start(t, client, "a", &overlap)
	b := start(t, client, "b", &overlap)
	waitUntil(t, "a leader", func() bool { return a.leading.Load() || b.leading.Load() })
	first, second := a, b
	if b.leading.Load() {
		first, second = b, a
	}
	time.Sleep(300 * time.Millisecond) // several retry periods: the other must not lead too
	if second.leading.Load() {
		t.Fatal("two candidates lead at once")
	}
	waitUntil(t, "the follower sees who leads", func() bool { return second.e.Leader() == first.e.Identity() })
	first.cancel()
	<-first.done
	if got, _ := first.holderAtEnd.Load().(string); got != first.e.Identity() {
		t.Errorf("when the stopped leader's lead returned, the Lease was held by %q, want it still", got)
	}
	// Given up, not left to expire: no holder, or already the other candidate.
	l, err := client.CoordinationV1().Leases("foresight").Get(context.Background(), "xds", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := l.Spec.HolderIdentity; h != nil && *h != "" && *h != second.e.Identity() {
		t.Errorf("after the leader stopped, the Lease is held by %q", *h)
	}
	waitUntil(t, "the other candidate leads", second.leading.Load)
	if first.lostSeen.Load() {
		t.Error("a stop was reported as a lost Lease")
	}
	if n := overlap.Load(); n != 0 {
		t.Errorf("follow and lead ran at once %d times", n)
	}
}

// A leader that cannot renew its Lease stops leading with ErrLeaseLost, follows, and leads
// again once it can.
func TestLostLeaseEndsLeadAndCampaignsAgain(t *testing.T) {
	client := fake.NewClientset()
	var failing atomic.Bool
	client.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failing.Load() {
			return true, nil, errors.New("API server unreachable")
		}
		return false, nil, nil
	})
	var overlap atomic.Int32
	a := start(t, client, "a", &overlap)
	waitUntil(t, "leading", a.leading.Load)
	failing.Store(true)
	waitUntil(t, "lead ended by the lost Lease", func() bool { return !a.leading.Load() })
	if !a.lostSeen.Load() {
		t.Error("lead's context cause is not ErrLeaseLost")
	}
	failing.Store(false)
	waitUntil(t, "leading again", func() bool { return a.led.Load() == 2 && a.leading.Load() })
	if n := overlap.Load(); n != 0 {
		t.Errorf("follow and lead ran at once %d times", n)
	}
}

// New refuses a Lease timing client-go's leader election would refuse, naming it.
func TestNewRefusesBadTiming(t *testing.T) {
	_, err := New(Options{Client: fake.NewClientset(), Namespace: "ns", Name: "l", LeaseDuration: time.Second, RenewDeadline: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "the lease duration (1s) must be longer than the renew deadline (2s)") {
		t.Fatalf("lease 1s, renew deadline 2s: %v", err)
	}
	if _, err := New(Options{Client: fake.NewClientset(), Name: "l"}); err == nil {
		t.Error("no namespace: accepted")
	}
}

// CheckTiming accepts exactly the timings client-go's leader election accepts, so a flag
// checked at parse never fails at the first election.
func TestCheckTimingIsClientGosRule(t *testing.T) {
	lock := &resourcelock.LeaseLock{LeaseMeta: metav1.ObjectMeta{Namespace: "ns", Name: "l"}, LockConfig: resourcelock.ResourceLockConfig{Identity: "me"}}
	callbacks := leaderelection.LeaderCallbacks{OnStartedLeading: func(context.Context) {}, OnStoppedLeading: func() {}}
	steps := []time.Duration{-time.Second, 0, 1, 500 * time.Millisecond, time.Second, 1199 * time.Millisecond, 1200 * time.Millisecond, 1201 * time.Millisecond, 2 * time.Second, 2400 * time.Millisecond, 15 * time.Second}
	for _, lease := range steps {
		for _, renew := range steps {
			for _, retry := range steps {
				_, theirs := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{Lock: lock, Callbacks: callbacks,
					LeaseDuration: lease, RenewDeadline: renew, RetryPeriod: retry})
				if ours := CheckTiming(lease, renew, retry); (ours == nil) != (theirs == nil) {
					t.Errorf("lease %s, renew %s, retry %s: CheckTiming %v, client-go %v", lease, renew, retry, ours, theirs)
				}
			}
		}
	}
}
