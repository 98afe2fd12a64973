package jobqueue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/foresight-dev/foresight/internal/testharness/procs"
)

// StartRedis starts redis-server (bin) on a free loopback port, without
// persistence, logging to logDir/name.log, and waits until it answers PING.
// It returns the process and its address.
func StartRedis(ctx context.Context, name, logDir, bin string) (*procs.Proc, string, error) {
	port, err := procs.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := procs.Start(name, logDir, bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", logDir, "--protected-mode", "yes")
	if err != nil {
		return nil, "", err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if exited, err := p.Exited(); exited {
			return nil, "", fmt.Errorf("%s exited (%w); log %s:\n%s", name, err, p.LogFile, p.Tail(3000))
		}
		c, err := Dial(wctx, addr)
		if err == nil {
			err = c.Ping()
			_ = c.Close()
			if err == nil {
				return p, addr, nil
			}
		}
		select {
		case <-wctx.Done():
			p.Stop(5 * time.Second)
			return nil, "", fmt.Errorf("%s not answering PING at %s: %w", name, addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StartExporter starts redis_exporter (bin: Debian's prometheus-redis-exporter)
// for the Redis at redisAddr on a free loopback port, exporting the length of
// list key as redis_key_size{db="db0",key=key}, and waits until /metrics
// answers. It returns the process and its host:port.
func StartExporter(ctx context.Context, name, logDir, bin, redisAddr, key string) (*procs.Proc, string, error) {
	port, err := procs.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := procs.Start(name, logDir, bin, "--redis.addr=redis://"+redisAddr, "--web.listen-address="+addr,
		"--check-single-keys=db0="+key)
	if err != nil {
		return nil, "", err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := p.WaitHTTP(wctx, "http://"+addr+"/metrics", nil); err != nil {
		p.Stop(5 * time.Second)
		return nil, "", err
	}
	return p, addr, nil
}
