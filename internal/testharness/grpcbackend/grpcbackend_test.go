package grpcbackend

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// startWithClient starts a backend named name on loopback and a client of it; both
// close when the test ends.
func startWithClient(t *testing.T, name string) (*Backend, *grpc.ClientConn) {
	t.Helper()
	b, err := Start(name, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	conn, err := grpc.NewClient(b.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return b, conn
}

// The backend names itself, fails every n-th call, and exports both outcomes.
func TestBackendAnswersFailsAndCounts(t *testing.T) {
	b, conn := startWithClient(t, "v2")
	if who, err := Who(context.Background(), conn); err != nil || who != "v2" {
		t.Fatalf("Who = %q, %v", who, err)
	}
	b.FailEvery(2)
	failed := 0
	for range 4 {
		if _, err := Who(context.Background(), conn); err != nil {
			failed++
		}
	}
	if failed != 2 || b.Calls() != 5 || b.Failed() != 2 {
		t.Fatalf("%d of 4 calls failed; Calls %d, Failed %d", failed, b.Calls(), b.Failed())
	}
	resp, err := http.Get("http://" + b.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 3`,
		`grpc_server_handled_total{grpc_code="Unavailable",grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
}

// Held calls wait for the release and are counted in flight; FailAll and FailOdd fail calls.
func TestBackendHoldsAndFails(t *testing.T) {
	b, conn := startWithClient(t, "v1")
	release := make(chan struct{})
	b.Hold(release)
	done := make(chan error, 1)
	go func() { _, err := Who(context.Background(), conn); done <- err }()
	deadline := time.Now().Add(time.Minute)
	for b.InFlight() != 1 {
		select {
		case err := <-done:
			t.Fatalf("a held call returned: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the call was not held within a minute")
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b.Hold(nil)
	b.FailAll(true)
	if _, err := Who(context.Background(), conn); err == nil {
		t.Error("FailAll: a call succeeded")
	}
	b.FailAll(false)
	b.FailOdd(true)
	failed := 0
	for range 4 {
		if _, err := Who(context.Background(), conn); err != nil {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("FailOdd: %d of 4 calls failed, want 2", failed)
	}
}
