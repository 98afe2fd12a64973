// Package jobqueue plays both ends of a Redis job queue for the e2e test: a
// producer that pushes uniquely named jobs onto a Redis list (one LPUSH per
// job, so that the server's LPUSH count is the arrival count), and a pool of
// consumers standing in for a worker Deployment's pods (there is no kubelet:
// the pool runs as many consumers as the Deployment has replicas, each ready
// after a start-up delay). A Ledger records every job pushed and popped, to
// check that none is lost or processed twice.
package jobqueue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Conn is one connection to a Redis server speaking RESP2, enough for LPUSH,
// RPOP, LLEN and PING. It is not safe for concurrent use.
type Conn struct {
	c net.Conn
	r *bufio.Reader
}

// Dial connects to the Redis server at addr (host:port).
func Dial(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	return &Conn{c: c, r: bufio.NewReader(c)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// errNil is a RESP null reply.
var errNil = errors.New("redis: nil")

// do sends one command and reads its reply: a string (simple or bulk), an
// int64, or errNil for a null bulk string.
func (c *Conn) do(args ...string) (any, error) {
	buf := make([]byte, 0, 64)
	buf = append(buf, '*')
	buf = strconv.AppendInt(buf, int64(len(args)), 10)
	buf = append(buf, '\r', '\n')
	for _, a := range args {
		buf = append(buf, '$')
		buf = strconv.AppendInt(buf, int64(len(a)), 10)
		buf = append(buf, '\r', '\n')
		buf = append(buf, a...)
		buf = append(buf, '\r', '\n')
	}
	if err := c.c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := c.c.Write(buf); err != nil {
		return nil, fmt.Errorf("redis %s: %w", args[0], err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", args[0], err)
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("redis %s: short reply %q", args[0], line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, fmt.Errorf("redis %s: %s", args[0], body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("redis %s: bulk length %q", args[0], body)
		}
		if n < 0 {
			return nil, errNil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, b); err != nil {
			return nil, fmt.Errorf("redis %s: %w", args[0], err)
		}
		return string(b[:n]), nil
	}
	return nil, fmt.Errorf("redis %s: unexpected reply %q", args[0], line)
}

// Ping checks that the server answers.
func (c *Conn) Ping() error {
	r, err := c.do("PING")
	if err == nil && r != "PONG" {
		err = fmt.Errorf("redis PING: answered %v", r)
	}
	return err
}

// LPush pushes one item onto the head of list key.
func (c *Conn) LPush(key, item string) error {
	_, err := c.do("LPUSH", key, item)
	return err
}

// RPop pops the item at the tail of list key; ok is false when it is empty.
func (c *Conn) RPop(key string) (item string, ok bool, err error) {
	r, err := c.do("RPOP", key)
	if errors.Is(err, errNil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	s, isStr := r.(string)
	if !isStr {
		return "", false, fmt.Errorf("redis RPOP: answered %v", r)
	}
	return s, true, nil
}

// LLen returns the length of list key (0 when it does not exist).
func (c *Conn) LLen(key string) (int64, error) {
	r, err := c.do("LLEN", key)
	if err != nil {
		return 0, err
	}
	n, isInt := r.(int64)
	if !isInt {
		return 0, fmt.Errorf("redis LLEN: answered %v", r)
	}
	return n, nil
}
