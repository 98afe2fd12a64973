package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Ledger records the jobs pushed and popped. It is safe for concurrent use.
type Ledger struct {
	mu     sync.Mutex
	pushed map[string]bool
	popped map[string]int
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{pushed: map[string]bool{}, popped: map[string]int{}}
}

// Pushed records that job id was pushed.
func (l *Ledger) Pushed(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pushed[id] = true
}

// Popped records that job id was popped by a consumer.
func (l *Ledger) Popped(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.popped[id]++
}

// Counts returns the number of jobs pushed and of pops.
func (l *Ledger) Counts() (pushed, pops int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.popped {
		pops += n
	}
	return len(l.pushed), pops
}

// Check returns an error naming (up to 10 of) the jobs pushed and never
// popped, popped more than once, or popped and never pushed; nil when every
// pushed job was popped exactly once.
func (l *Ledger) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lost, twice, unknown []string
	for id := range l.pushed {
		switch n := l.popped[id]; {
		case n == 0:
			lost = append(lost, id)
		case n > 1:
			twice = append(twice, fmt.Sprintf("%s (%d times)", id, n))
		}
	}
	for id := range l.popped {
		if !l.pushed[id] {
			unknown = append(unknown, id)
		}
	}
	var errs []error
	for _, g := range []struct {
		what string
		ids  []string
	}{{"lost (pushed, never popped)", lost}, {"popped more than once", twice}, {"popped, never pushed", unknown}} {
		if len(g.ids) == 0 {
			continue
		}
		sort.Strings(g.ids)
		errs = append(errs, fmt.Errorf("%d jobs %s: %s", len(g.ids), g.what, strings.Join(g.ids[:min(10, len(g.ids))], ", ")))
	}
	return errors.Join(errs...)
}

// PoolOptions configure a consumer pool.
type PoolOptions struct {
	// Addr is the Redis server (host:port) and Key the list the jobs are on.
	Addr, Key string
	// StartupDelay is how long a new consumer takes before it pops jobs (a
	// pod's start-up).
	StartupDelay time.Duration
	// Throughput is the jobs one consumer processes per second. > 0.
	Throughput float64
	// Ledger records every job popped.
	Ledger *Ledger
}

// Pool runs consumers of one list: as many as Scale says, each popping jobs
// (RPOP, the tail: first in, first out) once its start-up delay has passed.
type Pool struct {
	o       PoolOptions
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	workers []*consumer
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
}

type consumer struct {
	stop  chan struct{}
	ready atomic.Bool
}

// NewPool returns a pool with no consumers.
func NewPool(o PoolOptions) (*Pool, error) {
	if !(o.Throughput > 0) || o.Ledger == nil || o.Addr == "" || o.Key == "" {
		return nil, fmt.Errorf("jobqueue: pool needs an address, a key, a ledger and a positive throughput: %+v", o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{o: o, ctx: ctx, cancel: cancel}, nil
}

// Scale starts consumers up to n, or stops the newest ones down to n. A
// stopped consumer finishes the job it is processing: a popped job is never
// dropped.
func (p *Pool) Scale(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.workers) > max(n, 0) {
		last := p.workers[len(p.workers)-1]
		close(last.stop)
		last.ready.Store(false)
		p.workers = p.workers[:len(p.workers)-1]
	}
	for len(p.workers) < n {
		c := &consumer{stop: make(chan struct{})}
		p.workers = append(p.workers, c)
		p.wg.Add(1)
		go p.run(c)
	}
}

// Running is the number of consumers, starting ones included.
func (p *Pool) Running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.workers)
}

// Ready is the number of consumers past their start-up delay.
func (p *Pool) Ready() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.workers {
		if c.ready.Load() {
			n++
		}
	}
	return n
}

// Close stops every consumer, waits for them, and returns the first error a
// consumer met (a consumer that fails stops).
func (p *Pool) Close() error {
	p.Scale(0)
	p.wg.Wait()
	p.cancel()
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

func (p *Pool) fail(err error) {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *Pool) run(c *consumer) {
	defer p.wg.Done()
	conn, err := Dial(p.ctx, p.o.Addr)
	if err != nil {
		p.fail(err)
		return
	}
	defer conn.Close()
	sleep := func(d time.Duration) bool { // false when told to stop
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-c.stop:
			return false
		case <-t.C:
			return true
		}
	}
	if !sleep(p.o.StartupDelay) {
		return
	}
	select {
	case <-c.stop:
		return
	default:
		c.ready.Store(true)
	}
	perJob := time.Duration(float64(time.Second) / p.o.Throughput)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		id, ok, err := conn.RPop(p.o.Key)
		if err != nil {
			p.fail(err)
			return
		}
		if !ok {
			if !sleep(20 * time.Millisecond) {
				return
			}
			continue
		}
		p.o.Ledger.Popped(id)
		time.Sleep(perJob) // the job is processed even when a stop comes meanwhile
	}
}

// Burst is a run of jobs pushed evenly over Length from At.
type Burst struct {
	At     time.Time
	Length time.Duration
	Jobs   int
}

// Rate is the burst's arrival rate at t, jobs per second (0 outside it).
func (b Burst) Rate(t time.Time) float64 {
	if t.Before(b.At) || !t.Before(b.At.Add(b.Length)) {
		return 0
	}
	return float64(b.Jobs) / b.Length.Seconds()
}

// Produce pushes the bursts' jobs onto list key, one LPUSH per job, at their
// wall-clock times, recording each in ledger; before the first job of burst k
// it calls first(k). It returns when the last burst is pushed or ctx ends.
func Produce(ctx context.Context, conn *Conn, key string, bursts []Burst, ledger *Ledger, first func(k int)) error {
	bursts = slices.Clone(bursts)
	for k, b := range bursts {
		for i := range b.Jobs {
			at := b.At.Add(time.Duration(float64(b.Length) * float64(i) / float64(b.Jobs)))
			if d := time.Until(at); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
			if i == 0 && first != nil {
				first(k)
			}
			id := fmt.Sprintf("%s/b%d/j%d", key, k, i)
			ledger.Pushed(id)
			if err := conn.LPush(key, id); err != nil {
				return err
			}
		}
	}
	return nil
}
