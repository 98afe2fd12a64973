package main

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/foresight-dev/foresight/sidecars/canary"
	"github.com/foresight-dev/foresight/sidecars/experiment"
	"github.com/foresight-dev/foresight/sidecars/leader"
	"github.com/foresight-dev/foresight/sidecars/statemirror"
)

// stateInterval is how often the state files and the state ConfigMap are compared.
const stateInterval = time.Second

// State file keys in the state ConfigMap.
const (
	canariesKey    = "canaries.json"
	experimentsKey = "experiments.json"
)

// stateKeeper keeps the state files and the state ConfigMap in step. Without a leader Lease
// it copies this replica's files to the ConfigMap until another pod takes the ConfigMap
// over, and then copies the ConfigMap to them, as a follower does. With one, the leader
// copies its files to the ConfigMap, and the other replicas copy the ConfigMap to their
// files and have the canary controller and the experiment runner serve what they read; a
// replica that becomes leader reads the ConfigMap once more before its controllers drive
// anything. Only the replica that drives writes the Gateway API statuses.
type stateKeeper struct {
	mirror *statemirror.Mirror
	// leading says whether this replica drives the rollouts and experiments and copies its
	// state to the ConfigMap.
	leading  *atomic.Bool
	canaries *canary.Controller
	runner   *experiment.Runner // nil without experiments
	// writeStatuses has the Gateway API watch write its statuses, which only the leader
	// does (nothing without the Gateway API).
	writeStatuses func()
	log           *slog.Logger
}

// run keeps the state until ctx ends, elected by el (nil: no leader Lease).
func (s *stateKeeper) run(ctx context.Context, el *leader.Elector) {
	if el == nil {
		s.single(ctx)
		return
	}
	lead := func(ctx context.Context) { s.lead(ctx, el.Identity()) }
	if err := el.Run(ctx, s.follow, lead); err != nil {
		s.log.Error("leader election stopped; this replica follows", "error", err)
	}
}

// single copies this replica's state to the ConfigMap until ctx ends, when it runs without a
// leader Lease. It takes the ConfigMap over first (retrying until it can), so that a pod
// that writes beside it (the old pod of a rolling update) writes nothing more. When another
// takes it over in turn, this replica stops driving and follows: its proxies get the
// weights the other pod decides until this one exits, not ones of its own.
func (s *stateKeeper) single(ctx context.Context) {
	identity := leader.Identity()
	for failed := false; ; failed = true {
		err := s.mirror.Claim(ctx, identity)
		if err == nil {
			break
		}
		if !failed {
			s.log.Error("state ConfigMap not taken over; this replica's state is not kept in it (retrying)", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(stateInterval):
		}
	}
	if err := s.mirror.Run(ctx, stateInterval); err != nil {
		s.leading.Store(false)
		s.log.Warn("another replica writes the state ConfigMap: this one stops driving and serves that replica's state", "error", err)
		s.follow(ctx)
		return
	}
	_ = s.mirror.FinalSync(ctx) // ErrFenced: another took it over meanwhile
}

// follow copies the leader's state to this replica until ctx ends.
func (s *stateKeeper) follow(ctx context.Context) {
	s.mirror.Follow(ctx, stateInterval, func(key string) { s.reload(ctx, key) })
}

// lead drives the rollouts and experiments from the latest state in the ConfigMap and copies
// every change to it, until ctx ends or another replica takes the ConfigMap over. It takes
// the ConfigMap over before it leads, retrying until it can: a leader that started from an
// older state could take a rollout back, and a former leader must not write after it.
// identity names this replica on the ConfigMap.
func (s *stateKeeper) lead(ctx context.Context, identity string) {
	for {
		keys, err := s.mirror.TakeOver(ctx, identity)
		if err == nil {
			for _, k := range keys {
				s.reload(ctx, k)
			}
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(stateInterval):
		}
	}
	s.leading.Store(true)
	s.writeStatuses()
	fenced := s.mirror.Run(ctx, stateInterval)
	s.leading.Store(false)
	if fenced != nil {
		// The Lease is given up (if this replica still holds it) and won again by whoever
		// takes the ConfigMap over next, from what it holds.
		s.log.Warn("another replica writes the state ConfigMap: this one stops leading", "error", fenced)
		return
	}
	// A replica that lost the Lease leaves the ConfigMap to the new leader.
	if !errors.Is(context.Cause(ctx), leader.ErrLeaseLost) {
		_ = s.mirror.FinalSync(ctx) // ErrFenced: the new leader has it
	}
}

// reload has the controller of a state file serve it again after it changed.
func (s *stateKeeper) reload(ctx context.Context, key string) {
	var err error
	switch key {
	case canariesKey:
		err = s.canaries.Reload(ctx)
	case experimentsKey:
		if s.runner != nil {
			err = s.runner.Reload()
		}
	}
	if err != nil {
		s.log.Error("the leader's state not served", "key", key, "error", err)
	}
}
