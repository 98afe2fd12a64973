package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/metrics/pkg/client/external_metrics"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDemo runs the demo with args (and a port and certificate folder of
// its own) until it returns on done, and returns its base URL once printed.
func startDemo(t *testing.T, args ...string) (base string, out *syncBuffer, done <-chan error) {
	t.Helper()
	out = &syncBuffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- runDemo(context.Background(), append([]string{"--port", "0", "--cert-dir", t.TempDir()}, args...), out, io.Discard)
	}()
	urlRE := regexp.MustCompile(`serving on (https://127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for base == "" {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("demo printed no address:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return base, out, errc
}

// waitDemoStopped waits for a demo started by startDemo to return after its
// --duration, and fails the test if it fails or does not stop.
func waitDemoStopped(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop after --duration")
	}
}

func TestDemoServesPredictedMetric(t *testing.T) {
	base, out, done := startDemo(t, "--duration", "9s", "--history", "72h")
	if !strings.Contains(out.String(), "curl -k "+base+"/apis/external.metrics.k8s.io/v1beta1/namespaces/demo/predicted_requests_per_second") {
		t.Errorf("demo did not print the curl command:\n%s", out.String())
	}
	c, err := external_metrics.NewForConfig(&rest.Config{Host: base, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	if err != nil {
		t.Fatal(err)
	}
	var served, reactive float64
	var at time.Time
	for deadline := time.Now().Add(12 * time.Second); ; {
		l, err := c.NamespacedMetrics("demo").List("predicted_requests_per_second", k8slabels.Everything())
		r, rerr := c.NamespacedMetrics("demo").List("requests_per_second", k8slabels.Everything())
		if err == nil && rerr == nil && len(l.Items) == 1 && len(r.Items) == 1 {
			served, at = l.Items[0].Value.AsApproximateFloat64(), l.Items[0].Timestamp.Time
			reactive = r.Items[0].Value.AsApproximateFloat64()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo metric not served: %v / %v\n%s", err, rerr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if served <= 0 || reactive <= 0 || served < reactive*0.5 {
		t.Errorf("served %v, reactive %v: want positive values of the same load", served, reactive)
	}
	if at.IsZero() {
		t.Error("served value without timestamp")
	}
	// Data time runs accelerated: the served sample advances (waited for, not slept on: on a
	// busy machine a cycle may take longer than usual).
	for deadline := time.Now().Add(30 * time.Second); ; {
		l, err := c.NamespacedMetrics("demo").List("predicted_requests_per_second", k8slabels.Everything())
		if err == nil && len(l.Items) == 1 && l.Items[0].Timestamp.After(at) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("served sample did not advance with accelerated time within 30s: %v %+v", err, l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Other namespaces see nothing.
	if l, err := c.NamespacedMetrics("default").List("predicted_requests_per_second", k8slabels.Everything()); err != nil || len(l.Items) != 0 {
		t.Errorf("namespace default: %v %+v", err, l)
	}
	waitDemoStopped(t, done)
	lines := regexp.MustCompile(`(?m)^\w{3} \d{4}-\d\d-\d\d \d\d:\d\d  observed .* predicted_requests_per_second`).FindAllString(out.String(), -1)
	if len(lines) < 3 {
		t.Errorf("want a live line per cycle, got %d:\n%s", len(lines), out.String())
	}
}

// TestDemoOnATakenPortSaysHowToChooseAnother runs the demo on a port another listener holds:
// it fails at once and names the flag that picks another port.
func TestDemoOnATakenPortSaysHowToChooseAnother(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	port := strconv.Itoa(held.Addr().(*net.TCPAddr).Port)
	err = runDemo(context.Background(), []string{"--port", port, "--cert-dir", t.TempDir(), "--history", "1h"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--port 0") || !strings.Contains(err.Error(), port) {
		t.Fatalf("demo on taken port %s: %v, want an error naming the port and --port 0", port, err)
	}
}
