package procs

import (
	"bufio"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary plays three roles, chosen by this variable: the test, a
// harness that starts a child and waits to be killed, and that child.
const roleEnv = "PROCS_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "harness":
		runHarness()
	case "child":
		// A child that would live for an hour, and a grandchild in its group.
		if os.Getenv("PROCS_TEST_GRANDCHILD") == "" {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "PROCS_TEST_GRANDCHILD=1")
			if err := cmd.Start(); err != nil {
				os.Exit(3)
			}
			os.Stdout.WriteString(strconv.Itoa(cmd.Process.Pid) + "\n")
		}
		time.Sleep(time.Hour)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHarness starts a child with Start, prints its pid and waits to be killed.
func runHarness() {
	dir, err := os.MkdirTemp("", "procs-harness-")
	if err != nil {
		os.Exit(2)
	}
	if err := os.Setenv(roleEnv, "child"); err != nil {
		os.Exit(2)
	}
	p, err := Start("child", dir, os.Args[0])
	if err != nil {
		os.Stderr.WriteString(err.Error())
		os.Exit(2)
	}
	os.Stdout.WriteString(strconv.Itoa(p.Pid()) + "\n")
	time.Sleep(time.Hour)
}

// alive reports whether pid runs (a zombie, dead but not yet reaped by its new
// parent, does not).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(data), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// waitGone waits until pid no longer runs, and fails the test if it still does
// after a minute (the kernel acts at once; the minute only bounds a broken run).
func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("%s (pid %d) still runs", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestChildDiesWithTheHarness(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs Linux's /proc: Pdeathsig is Linux-only")
	}
	harness := exec.Command(os.Args[0], "-test.run=^$")
	harness.Env = append(os.Environ(), roleEnv+"=harness")
	out, err := harness.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := harness.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = harness.Process.Kill()
		t.Fatalf("the harness printed no child pid: %v", err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	if !alive(child) {
		t.Fatalf("child %d is not running before the harness is killed", child)
	}
	// SIGKILL: the harness gets no chance to stop its child itself.
	if err := harness.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = harness.Wait()
	waitGone(t, "the child of a killed harness", child)
}

func TestStopEndsTheProcessGroup(t *testing.T) {
	t.Setenv(roleEnv, "child")
	p, err := Start("child", t.TempDir(), os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	var grandchild int
	deadline := time.Now().Add(time.Minute)
	for grandchild == 0 {
		if s := strings.TrimSpace(p.Tail(100)); s != "" {
			if grandchild, err = strconv.Atoi(s); err != nil {
				t.Fatalf("child printed %q, not a pid", s)
			}
		}
		if time.Now().After(deadline) {
			p.Stop(0)
			t.Fatal("the child printed no grandchild pid")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !alive(grandchild) {
		t.Fatal("grandchild not running before Stop")
	}
	p.Stop(5 * time.Second)
	if exited, _ := p.Exited(); !exited {
		t.Fatal("Stop returned before the child exited")
	}
	waitGone(t, "the grandchild after Stop", grandchild)
}

// TestRetryPortTakenStartsAgainOnAnotherPort: a start whose port was taken
// (here by a listener the test holds) is tried again on a new free port; an
// error of another kind is returned at once; a port that stays taken gives
// up after the attempts, with the bind error.
func TestRetryPortTakenStartsAgainOnAnotherPort(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	listen := func(port int) error {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			_ = l.Close()
		}
		return err
	}

	attempts := 0
	err = RetryPortTaken(3, func() error {
		attempts++
		if attempts == 1 {
			return listen(heldPort) // taken since FreePort found it free
		}
		port, err := FreePort()
		if err != nil {
			return err
		}
		return listen(port)
	})
	if err != nil || attempts != 2 {
		t.Errorf("taken, then free: %d attempts, error %v; want 2 attempts and no error", attempts, err)
	}

	attempts = 0
	other := errors.New("etcd exited: permission denied")
	if err := RetryPortTaken(3, func() error { attempts++; return other }); !errors.Is(err, other) || attempts != 1 {
		t.Errorf("another error: %d attempts, error %v; want it returned after 1", attempts, err)
	}

	attempts = 0
	err = RetryPortTaken(3, func() error { attempts++; return listen(heldPort) })
	if !PortTaken(err) || attempts != 3 {
		t.Errorf("always taken: %d attempts, error %v; want 3 attempts and the bind error", attempts, err)
	}
}

// TestFreePortIsBelowTheEphemeralRangeAndNeverRepeated: where the kernel's
// ephemeral range leaves room below it, every port FreePort hands out lies
// there (an outgoing connection is never given it), can be bound, and is not
// handed out again.
func TestFreePortIsBelowTheEphemeralRangeAndNeverRepeated(t *testing.T) {
	lo, hi := pooledPorts()
	pooled := hi-lo >= minPooledPorts
	seen := map[int]bool{}
	for range 200 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if pooled && (port < lo || port >= hi) {
			t.Fatalf("port %d outside [%d, %d), below the ephemeral range", port, lo, hi)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d from FreePort cannot be bound: %v", port, err)
		}
		_ = l.Close()
	}
	if !pooled {
		t.Logf("ephemeral range leaves [%d, %d): ports came from the kernel", lo, hi)
	}
}
