package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoProcessEnv makes TestDemoProcess run the real main() with the demo.
const demoProcessEnv = "FORESIGHT_TEST_DEMO_PROCESS"

// TestDemoProcess is the demo as a process of its own (main(), which exits);
// it runs only as a subprocess of TestDemoExitsZeroOnSignal.
func TestDemoProcess(t *testing.T) {
	dir := os.Getenv(demoProcessEnv)
	if dir == "" {
		return
	}
	os.Args = []string{"foresight-adapter", "demo", "--port", "0", "--history", "2h", "--cert-dir", dir}
	main()
}

// TestDemoExitsZeroOnSignal: Ctrl-C (SIGINT) and SIGTERM end the demo with
// exit status 0, so that `make demo` ended with Ctrl-C reports no error.
func TestDemoExitsZeroOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestDemoProcess$")
			cmd.Env = append(os.Environ(), demoProcessEnv+"="+t.TempDir())
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Serving (and so past start-up) once it prints its address.
			sc := bufio.NewScanner(out)
			serving := false
			for !serving && sc.Scan() {
				serving = strings.HasPrefix(sc.Text(), "serving on https://127.0.0.1:")
			}
			if !serving {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatal("the demo process printed no address")
			}
			go func() { // keep draining its output
				for sc.Scan() {
				}
			}()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("demo ended by %s with %v, want exit status 0", sig, err)
				} else if err != nil {
					t.Fatal(err)
				}
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("demo still runs a minute after %s", sig)
			}
		})
	}
}
