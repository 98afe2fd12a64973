// Package leader elects one replica of the control plane with a Kubernetes Lease, so that
// the rollouts and experiments of several replicas are driven by one of them: the leader
// decides (steps canaries, evaluates guards, records aborts) and the others follow what it
// decides. Every replica serves xDS either way.
//
// An Elector runs exactly one of two functions at a time: follow while another replica
// holds the Lease, lead while this one does. It waits for follow to return before it leads,
// and for lead to return before it gives the Lease up, so what the leader writes last is
// written while it still holds the Lease.
package leader

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Timing of the Lease, as kube-controller-manager's defaults: a leader that stops renewing
// is replaced within LeaseDuration; it gives up leading after RenewDeadline without renewal.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// CheckTiming says whether a Lease's timing lets one replica lead at a time: the lease must
// outlast the renew deadline (a leader gives up before others may take over), and the
// deadline must leave room for more than one renewal attempt (client-go jitters the retry
// period by up to leaderelection.JitterFactor).
func CheckTiming(leaseDuration, renewDeadline, retryPeriod time.Duration) error {
	switch {
	case retryPeriod <= 0:
		return fmt.Errorf("the retry period (%s) must be positive", retryPeriod)
	case leaseDuration <= renewDeadline:
		return fmt.Errorf("the lease duration (%s) must be longer than the renew deadline (%s)", leaseDuration, renewDeadline)
	case renewDeadline <= time.Duration(leaderelection.JitterFactor*float64(retryPeriod)):
		return fmt.Errorf("the renew deadline (%s) must be longer than %g times the retry period (%s)", renewDeadline, leaderelection.JitterFactor, retryPeriod)
	}
	return nil
}

// ErrLeaseLost is the cause of the context of lead when the Lease was lost (not renewed in
// time, or taken by another replica) rather than the Elector stopped.
var ErrLeaseLost = errors.New("leader: the Lease was lost")

// Options configure an Elector.
type Options struct {
	// Client reaches the coordination.k8s.io Leases.
	Client kubernetes.Interface
	// Namespace and Name name the Lease; it is created when missing.
	Namespace, Name string
	// Identity names this replica in the Lease; Identity() when empty.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod: the defaults above when zero.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Logger receives a line when this replica starts and stops leading.
	Logger *slog.Logger
}

// Elector campaigns for one Lease.
type Elector struct {
	opts    Options
	config  leaderelection.LeaderElectionConfig // without callbacks
	log     *slog.Logger
	current atomic.Pointer[leaderelection.LeaderElector] // of the campaign under way
}

// Identity is a name for this process that no other shares: the host name (a pod's name)
// and a random suffix, so a restarted container does not take its predecessor's Lease for
// its own.
func Identity() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "foresight-xds"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "_" + hex.EncodeToString(b)
}

// New returns an Elector for opts.
func New(opts Options) (*Elector, error) {
	if opts.Client == nil || opts.Namespace == "" || opts.Name == "" {
		return nil, errors.New("leader: Options.Client, Namespace and Name are required")
	}
	if opts.Identity == "" {
		opts.Identity = Identity()
	}
	opts.LeaseDuration = cmp.Or(opts.LeaseDuration, DefaultLeaseDuration)
	opts.RenewDeadline = cmp.Or(opts.RenewDeadline, DefaultRenewDeadline)
	opts.RetryPeriod = cmp.Or(opts.RetryPeriod, DefaultRetryPeriod)
	if err := CheckTiming(opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod); err != nil {
		return nil, fmt.Errorf("leader: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	config := leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: opts.Namespace, Name: opts.Name},
			Client:     opts.Client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: opts.Identity},
		},
		LeaseDuration:   opts.LeaseDuration,
		RenewDeadline:   opts.RenewDeadline,
		RetryPeriod:     opts.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            opts.Name,
		Callbacks:       leaderelection.LeaderCallbacks{OnStartedLeading: func(context.Context) {}, OnStoppedLeading: func() {}},
	}
	if _, err := leaderelection.NewLeaderElector(config); err != nil {
		return nil, fmt.Errorf("leader: %w", err)
	}
	return &Elector{opts: opts, config: config, log: opts.Logger.With("lease", opts.Namespace+"/"+opts.Name, "identity", opts.Identity)}, nil
}

// Identity is the name this Elector holds the Lease under.
func (e *Elector) Identity() string { return e.opts.Identity }

// Leader is the identity of the Lease's holder as this replica last saw it ("" before it
// saw one): Identity() while it leads.
func (e *Elector) Leader() string {
	if le := e.current.Load(); le != nil {
		return le.GetLeader()
	}
	return ""
}

// Run campaigns for the Lease until ctx ends. While another replica holds it, follow runs
// with a context that ends when this replica wins it (or ctx ends); then lead runs with a
// context that ends when ctx ends or the Lease is lost (its cause is then ErrLeaseLost).
// Each returns before the other starts. After lead returns, the Lease is given up when it
// is still held, and the campaign starts again unless ctx ended.
func (e *Elector) Run(ctx context.Context, follow, lead func(context.Context)) error {
	for ctx.Err() == nil {
		if err := e.term(ctx, follow, lead); err != nil {
			return err
		}
	}
	return nil
}

// term is one campaign: follow until the Lease is won, lead until it is lost or ctx ends,
// then give it up.
func (e *Elector) term(ctx context.Context, follow, lead func(context.Context)) error {
	won := make(chan context.Context, 1)
	config := e.config
	config.Callbacks = leaderelection.LeaderCallbacks{
		OnStartedLeading: func(held context.Context) { won <- held },
		OnStoppedLeading: func() {},
	}
	le, err := leaderelection.NewLeaderElector(config)
	if err != nil {
		return fmt.Errorf("leader: %w", err)
	}
	e.current.Store(le)
	// The election runs on a context of its own: it ends only after lead has returned, so
	// the Lease is released after the leader's last write.
	electing, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	elected := make(chan struct{})
	go func() { le.Run(electing); close(elected) }()
	defer func() { stopElecting(); <-elected }()

	following, stopFollowing := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() { follow(following); close(followed) }()
	var held context.Context
	select {
	case held = <-won:
	case <-ctx.Done():
	case <-elected:
	}
	stopFollowing()
	<-followed
	if held == nil {
		return nil
	}

	e.log.Info("leading: this replica drives the rollouts and experiments")
	leading, stopLeading := context.WithCancelCause(ctx)
	lost := context.AfterFunc(held, func() { stopLeading(ErrLeaseLost) })
	lead(leading)
	lost()
	stopLeading(nil)
	if held.Err() != nil && ctx.Err() == nil {
		e.log.Warn("lost the leader Lease: following again")
	} else {
		e.log.Info("stopped leading: giving the Lease up")
	}
	return nil
}
