//go:build integration || e2e

package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/internal/testharness/needs"
	"github.com/foresight-dev/foresight/internal/testharness/promserver"
)

// TestBackfilledCounterGivesBackTheTrace backfills a real Prometheus with an
// hour of a real trace and checks that rate() over the counter returns the
// mean of the trace's last steps in the [2m] window (RateSteps: two in
// Prometheus 2, one in Prometheus 3) at each step, for both series.
func TestBackfilledCounterGivesBackTheTrace(t *testing.T) {
	promBin, promtool := needs.Program(t, "prometheus"), needs.Program(t, "promtool")
	tr, err := LoadTrace(filepath.Join(needs.Root(t), "testdata", "traces", "crane-input2.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Step != time.Minute {
		t.Fatalf("step = %v, want 1m", tr.Step)
	}
	from := time.Date(2021, 10, 20, 23, 0, 0, 0, time.UTC)
	samples := tr.Window(from, from.Add(time.Hour))
	if len(samples) != 61 {
		t.Fatalf("window has %d samples, want 61", len(samples))
	}
	dir := t.TempDir()
	om := filepath.Join(dir, "in.om")
	f, err := os.Create(om)
	if err != nil {
		t.Fatal(err)
	}
	series := []Series{{"namespace": "a", "service": "web"}, {"namespace": "b", "service": "web"}}
	if err := WriteOpenMetrics(f, "http_requests", "test", samples, tr.Step, series); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p, err := promserver.New(promserver.Options{Bin: promBin, Dir: dir, Args: PrometheusArgs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := promserver.Backfill(ctx, promtool, om, p.DataDir); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	major, err := p.MajorVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := RateSteps(2*time.Minute, tr.Step, major)

	start, end := from.Add(5*time.Minute), from.Add(55*time.Minute)
	q := url.Values{
		"query": {`sum by (namespace) (rate(http_requests_total[2m]))`},
		"start": {strconv.FormatInt(start.Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {"60"},
	}
	resp, err := http.Get(p.URL + "/api/v1/query_range?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Values [][2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "success" || len(body.Data.Result) != 2 {
		t.Fatalf("query: status %q, %d series; want success and 2", body.Status, len(body.Data.Result))
	}
	for _, s := range body.Data.Result {
		if len(s.Values) != 51 {
			t.Errorf("series %v: %d points, want 51", s.Metric, len(s.Values))
		}
		for _, v := range s.Values {
			ts := time.Unix(int64(v[0].(float64)), 0)
			got, err := strconv.ParseFloat(fmt.Sprint(v[1]), 64)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := tr.Mean(ts, steps)
			if !ok {
				t.Fatalf("no trace value at %v", ts)
			}
			if math.Abs(got-want) > 1e-6*math.Max(1, want) {
				t.Errorf("series %v at %s: rate %v, trace %v", s.Metric, ts.Format("15:04"), got, want)
			}
		}
	}
}
