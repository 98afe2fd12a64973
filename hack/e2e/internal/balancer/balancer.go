// Package balancer is a TCP load balancer for the e2e tests: it accepts
// connections on a loopback port and relays each to one of its backends,
// taken round-robin, skipping a backend it cannot dial. It stands in for a
// Service with several endpoints, which a control plane on loopback cannot
// have (Endpoints and EndpointSlices refuse loopback addresses).
package balancer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Balancer relays connections to its backends.
type Balancer struct {
	ln       net.Listener
	backends []string

	mu     sync.Mutex
	next   int
	active map[string]int // open relayed connections per backend
	dialed map[string]int // connections relayed per backend
	failed map[string]int // failed dials per backend
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Listen starts a balancer on 127.0.0.1 (a free port) for backends (host:port).
func Listen(backends ...string) (*Balancer, error) {
	return ListenOn("127.0.0.1:0", backends...)
}

// ListenOn starts a balancer on addr (host:port) for backends (host:port).
func ListenOn(addr string, backends ...string) (*Balancer, error) {
	if len(backends) == 0 {
		return nil, errors.New("balancer: no backends")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("balancer: %w", err)
	}
	b := &Balancer{ln: ln, backends: backends, active: map[string]int{}, dialed: map[string]int{},
		failed: map[string]int{}, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

// Port is the port the balancer listens on.
func (b *Balancer) Port() int { return b.ln.Addr().(*net.TCPAddr).Port }

// Stats are a backend's counters.
type Stats struct {
	// Active is the number of relayed connections open now.
	Active int
	// Relayed is the number of connections relayed so far.
	Relayed int
	// FailedDials is the number of times the backend could not be dialed.
	FailedDials int
}

// Stats returns the counters of backend.
func (b *Balancer) Stats(backend string) Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Active: b.active[backend], Relayed: b.dialed[backend], FailedDials: b.failed[backend]}
}

// Close stops accepting, closes every relayed connection and waits for the relays.
func (b *Balancer) Close() error {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		_ = c.Close()
	}
	b.mu.Unlock()
	err := b.ln.Close()
	b.wg.Wait()
	return err
}

func (b *Balancer) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go b.relay(c)
	}
}

// dial connects to the next backend that answers, round-robin.
func (b *Balancer) dial() (net.Conn, string, error) {
	b.mu.Lock()
	first := b.next
	b.next = (b.next + 1) % len(b.backends)
	b.mu.Unlock()
	var errs []error
	for i := range b.backends {
		addr := b.backends[(first+i)%len(b.backends)]
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			return c, addr, nil
		}
		b.mu.Lock()
		b.failed[addr]++
		b.mu.Unlock()
		errs = append(errs, err)
	}
	return nil, "", errors.Join(errs...)
}

// track registers c; false when the balancer is closing.
func (b *Balancer) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *Balancer) untrack(c net.Conn) {
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
}

func (b *Balancer) relay(client net.Conn) {
	defer b.wg.Done()
	defer client.Close()
	if !b.track(client) {
		return
	}
	defer b.untrack(client)
	backend, addr, err := b.dial()
	if err != nil {
		return
	}
	defer backend.Close()
	if !b.track(backend) {
		return
	}
	defer b.untrack(backend)
	b.mu.Lock()
	b.active[addr]++
	b.dialed[addr]++
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.active[addr]--
		b.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Either side ending ends the relay: a dead backend drops its clients.
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go pipe(backend, client)
	go pipe(client, backend)
	<-done
	<-done
}
