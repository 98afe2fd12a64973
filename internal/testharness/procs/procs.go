// Package procs starts and stops the harness's child processes (etcd,
// kube-apiserver, kube-controller-manager, Prometheus, the adapters), each
// logging to its own file, and waits for them to become ready.
//
// A child never outlives the harness: it runs in its own process group, which
// Stop signals as a whole, and on Linux the kernel kills it (SIGKILL) when the
// harness process dies, even of a SIGKILL that leaves no time to clean up.
package procs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a running child process.
type Proc struct {
	// Name names the process in logs and errors.
	Name string
	// LogFile receives the process's stdout and stderr.
	LogFile string
	// Started is when the process was started.
	Started time.Time

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts bin with args, its output appended to logDir/name.log.
func Start(name, logDir, bin string, args ...string) (*Proc, error) {
	logFile := filepath.Join(logDir, name+".log")
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &Proc{Name: name, LogFile: logFile, Started: time.Now(), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id, which is also its process group's.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended, and its error if so (an error
// saying "exit status 0" for a clean exit, so that callers can always print it).
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		if p.err == nil {
			return true, errors.New("exit status 0")
		}
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process group, then SIGKILL after grace, waits
// for the process, and kills what it left behind in its group. Stopping an
// ended process does nothing: its group id may already name someone else's.
func (p *Proc) Stop(grace time.Duration) {
	if exited, _ := p.Exited(); exited {
		return
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlive the leader keep the group (and its id) alive.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
}

// Tail returns the last n bytes of the process's log, for error messages.
func (p *Proc) Tail(n int64) string {
	f, err := os.Open(p.LogFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		if _, err := f.Seek(st.Size()-n, io.SeekStart); err != nil {
			return ""
		}
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// WaitHTTP polls url until it answers 200, the process exits, or ctx ends.
// tlsConfig may be nil for plain HTTP.
func (p *Proc) WaitHTTP(ctx context.Context, url string, tlsConfig *tls.Config) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	var last string
	for {
		if exited, err := p.Exited(); exited {
			return fmt.Errorf("%s exited while waiting for %s (%w); log %s:\n%s", p.Name, url, err, p.LogFile, p.Tail(3000))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %s; log %s:\n%s", p.Name, url, last, p.LogFile, p.Tail(3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Memory returns the process's resident set size and its peak (VmRSS and
// VmHWM) in bytes, read from /proc; zeros where /proc is not available.
func (p *Proc) Memory() (rss, peak uint64) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		field, rest, ok := strings.Cut(line, ":")
		if !ok || (field != "VmRSS" && field != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			continue
		}
		if field == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}

// CPUTime returns the user+system CPU time the process has used so far.
func (p *Proc) CPUTime() time.Duration { return CPUTime(p.Pid()) }

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times (100
// on every Linux architecture Go supports).
const clockTicks = 100

// CPUTime reads the user+system CPU time of pid from /proc/<pid>/stat; 0 where
// /proc is not available.
func CPUTime(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after its ')' are fixed.
	_, rest, ok := strings.Cut(string(data), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// PortTaken reports whether err, from starting a process on a port that
// FreePort found free, says that the port was taken before the process
// bound it: another process, or an outgoing connection given that port, got
// there first. Such a start can be tried again on another port.
func PortTaken(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// RetryPortTaken runs start, which starts a process on ports from FreePort,
// until it does not fail with PortTaken, at most attempts times, and returns
// its last error.
func RetryPortTaken(attempts int, start func() error) error {
	var err error
	for range max(1, attempts) {
		if err = start(); !PortTaken(err) {
			return err
		}
	}
	return err
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
//
// The port is drawn at random from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), from which the kernel gives outgoing
// connections their local ports, so no connection of a running test can be
// given the port before its server binds it; a port drawn so is never handed
// out twice by one process. Where the range cannot be read or leaves too little
// room below it, the kernel picks a free port instead (which an outgoing
// connection can then take: RetryPortTaken covers that).
func FreePort() (int, error) {
	lo, hi := pooledPorts()
	if hi-lo >= minPooledPorts {
		for range 64 {
			port := lo + rand.IntN(hi-lo)
			if claimPort(port) {
				return port, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("free port: not a TCP address")
	}
	return addr.Port, nil
}

// Ports FreePort draws from: at least pooledPortsFrom (above the well-known and
// most registered service ports), below the ephemeral range, and only when
// that leaves minPooledPorts.
const (
	pooledPortsFrom = 10000
	minPooledPorts  = 1000
)

var (
	portsMu     sync.Mutex
	portsHanded = map[int]bool{}
)

// pooledPorts returns the ports [lo, hi) FreePort draws from; hi is 0 where
// the ephemeral range cannot be read. The range is read once per process.
var pooledPorts = sync.OnceValues(func() (lo, hi int) {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, 0
	}
	first, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, 0
	}
	return pooledPortsFrom, first
})

// claimPort reports whether port was not handed out before by this process
// and can be bound on 127.0.0.1 now, and then marks it handed out.
func claimPort(port int) bool {
	portsMu.Lock()
	defer portsMu.Unlock()
	if portsHanded[port] {
		return false
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	portsHanded[port] = true
	return true
}
