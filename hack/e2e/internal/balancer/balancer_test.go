package balancer

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
)

// echoName serves connections that answer each line with name.
func echoName(t *testing.T, name string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					fmt.Fprintln(c, name)
				}
			}()
		}
	}()
	return ln
}

// ask opens a connection through b and returns the backend that answers.
func ask(t *testing.T, b *Balancer) (string, error) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintln(c, "who"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestRoundRobinAndFailover(t *testing.T) {
	a, z := echoName(t, "a"), echoName(t, "z")
	defer z.Close()
	b, err := Listen(a.Addr().String(), z.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	seen := map[string]int{}
	for range 4 {
		name, err := ask(t, b)
		if err != nil {
			t.Fatal(err)
		}
		seen[name]++
	}
	if seen["a"] != 2 || seen["z"] != 2 {
		t.Errorf("4 connections went to %v, want 2 to each backend", seen)
	}
	// With a gone, every connection reaches z.
	_ = a.Close()
	for range 3 {
		name, err := ask(t, b)
		if err != nil || name != "z" {
			t.Errorf("with backend a down: answered by %q (%v), want z", name, err)
		}
	}
	if s := b.Stats(a.Addr().String()); s.FailedDials == 0 || s.Relayed != 2 {
		t.Errorf("backend a: %+v, want 2 relayed and some failed dials", s)
	}
}

func TestNoBackends(t *testing.T) {
	if _, err := Listen(); err == nil {
		t.Error("Listen with no backends: want an error")
	}
}
