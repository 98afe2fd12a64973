package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/foresight-dev/foresight/adapter/provider"
	"github.com/foresight-dev/foresight/adapter/source"
)

// The adapter under hostile clients: every attack runs against the fast
// path and the library's chain of the real server on loopback, while a
// well-behaved client keeps asking for its metric. The test asserts bounded
// behaviour: errors where due, the memory the server keeps, the
// well-behaved client answered; BenchmarkHostileClients measures the memory
// above idle and the well-behaved client's p99.

// wellBehavedPath is what an HPA asks for.
const wellBehavedPath = "/apis/external.metrics.k8s.io/v1beta1/namespaces/a/queue_depth?labelSelector=queue%3Dorders"

// hostileMemoryBound is what an attack may make the process keep (the
// adapter's and, here, the attacking clients' memory) above idle.
const hostileMemoryBound = 64 << 20

// attack is one hostile client. run attacks the server at base until it
// has done its harm, then reports what went wrong; hold keeps what it
// opened (connections, streams) until ctx is done.
type attack struct {
	name string
	run  func(t testing.TB, h *harness, base string, hold context.Context) error
}

var attacks = []attack{
	{"huge distinct headers", hugeHeaders},
	{"many distinct headers", manyHeaders},
	{"huge and many distinct selectors", hostileSelectors},
	{"slowloris HTTP/1.1 over TLS", slowlorisHTTP1},
	{"slowloris HTTP/2", slowlorisHTTP2},
	{"many streams per connection", manyStreams},
}

func TestHostileClients(t *testing.T) {
	h := startHarness(t, clientRules, fillClientData)
	library := h.serve(t, true)
	for _, a := range attacks {
		for _, path := range []struct{ name, url string }{{"fast path", h.url}, {"library", library}} {
			t.Run(a.name+"/"+path.name, func(t *testing.T) {
				r := runAttack(t, h, path.url, a)
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.kept > hostileMemoryBound {
					t.Errorf("the attack keeps %d MiB above idle, bound %d MiB", r.kept>>20, hostileMemoryBound>>20)
				}
				if r.answered == 0 || r.failed > 0 {
					t.Errorf("well-behaved client: %d answered, %d failed (%v)", r.answered, r.failed, r.firstFailure)
				}
				for i, p := range h.providers {
					if b := p.MatcherCacheBytes(); b > provider.MatcherCacheMaxBytes {
						t.Errorf("server %d: selector cache holds %d bytes", i, b)
					}
				}
			})
		}
	}
}

// BenchmarkHostileClients measures, per attack and path, the process's peak
// heap and stacks above idle during the attack and the p99 latency of the
// well-behaved client meanwhile. Run with -benchtime=1x.
func BenchmarkHostileClients(b *testing.B) {
	h := startHarness(b, clientRules, fillClientData)
	library := h.serve(b, true)
	for _, a := range attacks {
		for _, path := range []struct{ name, url string }{{"fast", h.url}, {"library", library}} {
			b.Run(strings.ReplaceAll(a.name, " ", "_")+"/"+path.name, func(b *testing.B) {
				var r attackResult
				for b.Loop() {
					r = runAttack(b, h, path.url, a)
				}
				if r.err != nil {
					b.Fatal(r.err)
				}
				b.ReportMetric(float64(r.peak)/(1<<20), "peak-MiB-above-idle")
				b.ReportMetric(float64(r.kept)/(1<<20), "kept-MiB-above-idle")
				b.ReportMetric(float64(r.p99.Microseconds())/1000, "wellbehaved-p99-ms")
				b.ReportMetric(float64(r.answered), "wellbehaved-answers")
			})
		}
	}
}

type attackResult struct {
	err              error
	peak, kept       int64 // bytes above idle: sampled peak; after GC, with the attack's connections open
	answered, failed int
	firstFailure     error
	p99              time.Duration
}

// runAttack runs a against base with the well-behaved client asking
// meanwhile.
func runAttack(tb testing.TB, h *harness, base string, a attack) attackResult {
	idle := memoryInUse(true)
	var peak atomic.Int64
	sampling, stopSampling := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for sampling.Err() == nil {
			if m := memoryInUse(false); m > peak.Load() {
				peak.Store(m)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	client := wellBehavedClient()
	defer client.CloseIdleConnections()
	var res attackResult
	var lat []time.Duration
	asking, stopAsking := context.WithCancel(context.Background())
	wg.Go(func() {
		for asking.Err() == nil {
			start := time.Now()
			err := getOK(client, base+wellBehavedPath)
			lat = append(lat, time.Since(start))
			if err != nil {
				res.failed++
				if res.firstFailure == nil {
					res.firstFailure = err
				}
				continue
			}
			res.answered++
		}
	})
	hold, release := context.WithCancel(context.Background())
	res.err = a.run(tb, h, base, hold)
	// The attack's connections and streams are still open: what the server
	// keeps for them now is what it keeps.
	res.kept = memoryInUse(true) - idle
	stopAsking()
	release()
	stopSampling()
	wg.Wait()
	res.peak = peak.Load() - idle
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	return res
}

// memoryInUse is the heap in use and the goroutine stacks, after a
// collection when collect is set.
func memoryInUse(collect bool) int64 {
	if collect {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

func wellBehavedClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
}

func getOK(c *http.Client, u string) error {
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return nil
}

// status sends req with client and returns the status code.
func status(client *http.Client, req *http.Request) (int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func attackClient(http2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: http2}
	if !http2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// hugeHeaders sends requests with distinct headers of 900 KiB (the
// front proxy's and the bearer token's headers among them) over HTTP/1.1
// and HTTP/2, which are answered, and one of 1.1 MiB, refused with 431.
func hugeHeaders(_ testing.TB, _ *harness, base string, _ context.Context) error {
	for _, h2 := range []bool{false, true} {
		client := attackClient(h2)
		for i := range 24 {
			req, _ := http.NewRequest(http.MethodGet, base+wellBehavedPath, nil)
			pad := strings.Repeat(string(rune('a'+i%26)), 300<<10)
			req.Header.Set("X-Remote-User", fmt.Sprintf("user-%d-%s", i, pad))
			req.Header.Set("X-Remote-Extra-Pad", pad+fmt.Sprint(i))
			req.Header.Set("Authorization", "Bearer "+pad+fmt.Sprint(i))
			code, err := status(client, req)
			if err != nil {
				return fmt.Errorf("request %d (HTTP/2 %v) with 900 KiB of headers: %w", i, h2, err)
			}
			if code != http.StatusOK {
				return fmt.Errorf("request %d (HTTP/2 %v) with 900 KiB of headers: %d", i, h2, code)
			}
		}
		client.CloseIdleConnections()
	}
	req, _ := http.NewRequest(http.MethodGet, base+wellBehavedPath, nil)
	req.Header.Set("X-Remote-Pad", strings.Repeat("x", 1100<<10))
	client := attackClient(false)
	defer client.CloseIdleConnections()
	if code, err := status(client, req); err != nil || code != http.StatusRequestHeaderFieldsTooLarge {
		return fmt.Errorf("request with 1.1 MiB of headers: %d, %w; want 431", code, err)
	}
	return nil
}

// manyHeaders sends requests with 4000 distinct headers each.
func manyHeaders(_ testing.TB, _ *harness, base string, _ context.Context) error {
	client := attackClient(true)
	defer client.CloseIdleConnections()
	for i := range 24 {
		req, _ := http.NewRequest(http.MethodGet, base+wellBehavedPath, nil)
		for j := range 4000 {
			req.Header.Set(fmt.Sprintf("X-Remote-Extra-K%d-%d", i, j), fmt.Sprintf("value-%d", j))
		}
		if code, err := status(client, req); err != nil || code != http.StatusOK {
			return fmt.Errorf("request %d with 4000 headers: %d, %w", i, code, err)
		}
	}
	return nil
}

// hostileSelectors sends distinct selectors at the limits, answered, and
// beyond them (900 KiB, 257 values), refused with 400.
func hostileSelectors(_ testing.TB, _ *harness, base string, _ context.Context) error {
	client := attackClient(true)
	defer client.CloseIdleConnections()
	selector := func(seed, n, width int) string {
		vs := make([]string, n)
		for i := range vs {
			v := fmt.Sprintf("s%dv%d", seed, i)
			vs[i] = v + strings.Repeat("x", max(width-len(v), 0))
		}
		return "queue in (" + strings.Join(vs, ",") + ")"
	}
	get := func(sel string, want int) error {
		req, _ := http.NewRequest(http.MethodGet, base+"/apis/external.metrics.k8s.io/v1beta1/namespaces/a/queue_depth?labelSelector="+url.QueryEscape(sel), nil)
		code, err := status(client, req)
		if err != nil || code != want {
			return fmt.Errorf("selector of %d bytes: %d, %w; want %d", len(sel), code, err, want)
		}
		return nil
	}
	for i := range 64 {
		if err := get(selector(i, 128, 60), http.StatusOK); err != nil { // 7.9 KiB, 128 values
			return err
		}
		if err := get(selector(i, 250, 20), http.StatusOK); err != nil { // 5.1 KiB, 250 values
			return err
		}
	}
	for i := range 8 {
		if err := get(selector(i, 15000, 60), http.StatusBadRequest); err != nil { // 900 KiB
			return err
		}
		if err := get(selector(i, source.MaxSelectorValues+1, 8), http.StatusBadRequest); err != nil {
			return err
		}
	}
	return nil
}

// slowlorisHTTP1 opens TLS connections that send half a request and hold.
func slowlorisHTTP1(_ testing.TB, _ *harness, base string, hold context.Context) error {
	host := strings.TrimPrefix(base, "https://")
	for i := range 256 {
		conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Slow: ", wellBehavedPath, host); err != nil {
			return err
		}
		context.AfterFunc(hold, func() { _ = conn.Close() })
	}
	return nil
}

// h2Conn is a raw HTTP/2 client connection.
type h2Conn struct {
	conn   *tls.Conn
	framer *http2.Framer
	enc    *hpack.Encoder
	buf    bytes.Buffer
}

func dialH2(base string) (*h2Conn, error) {
	host := strings.TrimPrefix(base, "https://")
	conn, err := tls.Dial("tcp", host, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		return nil, err
	}
	c := &h2Conn{conn: conn, framer: http2.NewFramer(conn, conn)}
	c.enc = hpack.NewEncoder(&c.buf)
	if err := c.framer.WriteSettings(); err != nil {
		return nil, err
	}
	return c, nil
}

// headers encodes a GET of path.
func (c *h2Conn) headers(host, path string) []byte {
	c.buf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", host}, {":path", path}} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return slices.Clone(c.buf.Bytes())
}

// slowlorisHTTP2 opens HTTP/2 connections that start a request's header
// block and never finish it.
func slowlorisHTTP2(_ testing.TB, _ *harness, base string, hold context.Context) error {
	for i := range 128 {
		c, err := dialH2(base)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		block := c.headers(strings.TrimPrefix(base, "https://"), wellBehavedPath)
		if err := c.framer.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:len(block)/2], EndStream: true}); err != nil {
			return err
		}
		context.AfterFunc(hold, func() { _ = c.conn.Close() })
	}
	return nil
}

// manyStreams opens connections that each start 2000 requests and never
// read an answer nor grant flow-control credit: the server answers until
// its window is spent, then refuses the streams beyond its limit.
func manyStreams(_ testing.TB, _ *harness, base string, hold context.Context) error {
	host := strings.TrimPrefix(base, "https://")
	for i := range 8 {
		c, err := dialH2(base)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		block := c.headers(host, wellBehavedPath)
		for s := range 2000 {
			if err := c.framer.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*s + 1), BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
				break // the server may close the connection: bounded either way
			}
		}
		context.AfterFunc(hold, func() { _ = c.conn.Close() })
	}
	return nil
}
