package xds

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/peer"
)

// addressLimitListener closes a connection as soon as it is accepted when its client IP
// address already has max connections open, so that one address cannot take every place
// under Limits.MaxConnections. Refusals are counted, and logged at most once per
// refusalLogInterval.
type addressLimitListener struct {
	net.Listener
	max     int
	refused prometheus.Counter
	log     *slog.Logger

	mu       sync.Mutex
	open     map[string]int // open connections by client address
	refusals logGate        // the logs of refused connections
}

func newAddressLimitListener(l net.Listener, maxPerAddress int, refused prometheus.Counter, log *slog.Logger) *addressLimitListener {
	return &addressLimitListener{Listener: l, max: maxPerAddress, refused: refused, log: log, open: map[string]int{}}
}

// Accept returns the next connection whose address is under the limit.
func (l *addressLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		l.mu.Lock()
		ok := l.open[addr] < l.max
		if ok {
			l.open[addr]++
		}
		l.mu.Unlock()
		if ok {
			return &addressConn{Conn: c, release: sync.OnceFunc(func() { l.release(addr) })}, nil
		}
		_ = c.Close()
		l.refused.Inc()
		if l.refusals.due(time.Now()) {
			l.log.Warn("connection refused (further refusals within "+refusalLogInterval.String()+" are only counted)",
				"reason", "address_limit", "address", addr, "limit", l.max)
		}
	}
}

func (l *addressLimitListener) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[addr]--; l.open[addr] <= 0 {
		delete(l.open, addr)
	}
}

// openFrom returns the connections open from addr.
func (l *addressLimitListener) openFrom(addr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[addr]
}

// addressConn gives its place back when it is closed (once, however often Close is called).
type addressConn struct {
	net.Conn
	release func()
}

func (c *addressConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// hostOf is the IP address of a network address (the address itself when it has no port).
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// peerAddress is the client IP address of a stream's context, "" when it has none.
func peerAddress(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	return hostOf(p.Addr)
}
