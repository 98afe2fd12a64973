package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
)

// With a configured memory limit (GOMEMLIMIT), the running adapter keeps the
// Go runtime's limit at that limit minus the history it maps off the heap,
// reports both on /metrics, and gives the configured limit back when it stops.
func TestAdapterKeepsGoMemoryLimitBelowConfigured(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(before)
	const total = 1 << 30
	debug.SetMemoryLimit(total)

	// 6 days of one-minute history: 8,640 values a series, mapped off the heap.
	base, out, done := startDemo(t, "--duration", "8s", "--history", "144h")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	var offHeap, goLimit, configured float64
	for deadline := time.Now().Add(7 * time.Second); ; {
		m, err := scrape(client, base+"/metrics")
		if err == nil {
			offHeap, goLimit, configured = m["foresight_forecast_history_offheap_bytes"], m["foresight_adapter_go_memory_limit_bytes"], m["foresight_adapter_memory_limit_bytes"]
			if offHeap > 0 && goLimit == total-offHeap {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Go memory limit %v with %v bytes off the heap, want %d minus them (scrape error %v)\n%s", goLimit, offHeap, total, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if configured != total {
		t.Errorf("foresight_adapter_memory_limit_bytes = %v, want %d", configured, total)
	}
	if got := debug.SetMemoryLimit(-1); got >= total {
		t.Errorf("runtime limit %d while the adapter runs with %v bytes off the heap, want below %d", got, offHeap, total)
	}
	waitDemoStopped(t, done)
	if got := debug.SetMemoryLimit(-1); got != total {
		t.Errorf("runtime limit %d after the adapter stopped, want the configured %d back", got, total)
	}
}

// scrape returns the unlabelled samples of the Prometheus text at url.
func scrape(c *http.Client, url string) (map[string]float64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, nil
}
