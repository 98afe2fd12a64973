package promserver

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/internal/testharness/needs"
)

// query returns the body of an instant query.
func query(t *testing.T, s *Server, q string) string {
	t.Helper()
	resp, err := http.Get(s.URL + "/api/v1/query?query=" + q)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("query %s: status %d: %s", q, resp.StatusCode, body)
	}
	return string(body)
}

func TestBackfilledSeriesSurviveARestartOnTheSameAddress(t *testing.T) {
	prom, promtool := needs.Program(t, "prometheus"), needs.Program(t, "promtool")
	dir := t.TempDir()
	om := filepath.Join(dir, "series.om")
	now := time.Now().Unix()
	data := "# TYPE harness_test_load gauge\n"
	for i := int64(10); i >= 0; i-- {
		data += "harness_test_load{pod=\"a\"} 42 " + strconv.FormatInt(now-i*60, 10) + "\n"
	}
	data += "# EOF\n"
	if err := os.WriteFile(om, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Bin: prom, Dir: filepath.Join(dir, "prom")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := Backfill(context.Background(), promtool, om, s.DataDir); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := query(t, s, "harness_test_load"); !strings.Contains(got, `"42"`) {
		t.Fatalf("backfilled series not served: %s", got)
	}
	if err := s.Start(ctx); err == nil {
		t.Fatal("Start on a running server succeeded")
	}
	out, err := exec.Command(prom, "--version").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Version(ctx); err != nil || !strings.Contains(string(out), "version "+v+" ") {
		t.Errorf("Version() = %q, %v; prometheus --version says %s", v, err, out)
	}
	if m, err := s.MajorVersion(ctx); err != nil || m < 2 {
		t.Errorf("MajorVersion() = %d, %v", m, err)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	if resp, err := http.Get(s.URL + "/-/ready"); err == nil {
		resp.Body.Close()
		t.Fatal("a stopped server still answers")
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := query(t, s, "harness_test_load"); !strings.Contains(got, `"42"`) {
		t.Fatalf("series lost across a restart: %s", got)
	}
}

func TestBadConfigIsAStartError(t *testing.T) {
	s, err := New(Options{Bin: needs.Program(t, "prometheus"), Dir: t.TempDir(), Config: "scrape_configs: [{job_name: 1: 2}]\n"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "prometheus exited") {
		t.Fatalf("Start with a bad config: %v, want an error saying prometheus exited", err)
	}
}

// StartScraping returns once every target was scraped, with the targets' labels on their
// series.
func TestStartScrapingWaitsForEveryTarget(t *testing.T) {
	bin := needs.Program(t, "prometheus")
	var targets []Target
	for _, svc := range []string{"web-v1", "web-v2"} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "# TYPE app_up gauge\napp_up 1\n")
		}), ReadHeaderTimeout: 5 * time.Second}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(func() { _ = srv.Close() })
		targets = append(targets, Target{Addr: lis.Addr().String(), Labels: map[string]string{"service": svc}})
	}
	s, err := StartScraping(context.Background(), bin, t.TempDir(), 200*time.Millisecond, targets...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	body := query(t, s, url.QueryEscape(`count(app_up{service=~"web-v1|web-v2"})`))
	if !strings.Contains(body, `"2"`) {
		t.Errorf("count of the targets' series: %s, want 2", body)
	}
}
