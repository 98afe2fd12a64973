package promserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Target is an address Prometheus scrapes (/metrics), with labels it adds to the target's
// series.
type Target struct {
	Addr   string
	Labels map[string]string
}

// ScrapeConfig is a prometheus.yml with one job scraping targets every interval (which is
// also the evaluation interval).
func ScrapeConfig(job string, interval time.Duration, targets ...Target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global: {scrape_interval: %s, evaluation_interval: %s}\nscrape_configs:\n  - job_name: %q\n    static_configs:\n", interval, interval, job)
	for _, t := range targets {
		keys := make([]string, 0, len(t.Labels))
		for k := range t.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		labels := make([]string, 0, len(keys))
		for _, k := range keys {
			labels = append(labels, fmt.Sprintf("%s: %q", k, t.Labels[k]))
		}
		fmt.Fprintf(&b, "      - {targets: [%q], labels: {%s}}\n", t.Addr, strings.Join(labels, ", "))
	}
	return b.String()
}

// StartScraping starts a server in dir scraping targets every interval and waits until each
// target was scraped successfully once (service discovery hands new targets over only every
// 5 s). The caller stops it.
func StartScraping(ctx context.Context, bin, dir string, interval time.Duration, targets ...Target) (*Server, error) {
	s, err := New(Options{Bin: bin, Dir: dir, Config: ScrapeConfig("app", interval, targets...)})
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	if err := s.WaitUp(ctx, len(targets), time.Minute); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// WaitUp waits up to timeout until n targets are up (`sum(up) == n`).
func (s *Server) WaitUp(ctx context.Context, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	q := s.URL + "/api/v1/query?query=" + url.QueryEscape("sum(up)")
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, q, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var body struct {
				Data struct {
					Result []struct {
						Value [2]any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
			resp.Body.Close()
			if err == nil && len(body.Data.Result) == 1 {
				last = fmt.Sprint(body.Data.Result[0].Value[1])
				if last == fmt.Sprint(n) {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus %s: %d targets not up within %v (sum(up) = %q):\n%s", s.Addr, n, timeout, last, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
