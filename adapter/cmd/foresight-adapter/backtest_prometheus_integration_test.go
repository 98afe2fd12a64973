//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/trace"
)

// TestBacktestFromPrometheus loads three days of a real trace into a real
// Prometheus and checks that `backtest --prometheus-url --query` on it gives
// the same report, served values and plot as `backtest --input` on a CSV of
// the same samples: the range query at the samples' step returns exactly the
// stored samples (gaps stay gaps), read here in chunks of 1000 points. A query
// with no series or two series is refused with its series.
func TestBacktestFromPrometheus(t *testing.T) {
	loaded, prom, _ := startTracePrometheus(t, "crane-input1.csv")
	first, last := time.UnixMilli(loaded[0].T).UTC(), time.UnixMilli(loaded[len(loaded)-1].T).UTC()
	dir := t.TempDir()
	csv := filepath.Join(dir, "load.csv")
	samples := make([]trace.Sample, len(loaded))
	for i, s := range loaded {
		samples[i] = trace.Sample{TS: s.T / 1000, Value: s.V}
	}
	var b bytes.Buffer
	if err := trace.Write(&b, samples); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(csv, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	const query = `trace_load{service="web"}`
	fromProm := []string{"backtest", "--prometheus-url", prom.URL, "--query", query,
		"--end", last.Format(time.RFC3339), "--range", last.Sub(first).String(), "--step", "1m",
		"--prometheus-max-points-per-query", "1000"}
	common := []string{"--warmup", "24h"}

	want, _ := runCLI(t, append([]string{"backtest", "--input", csv, "--json"}, common...)...)
	got, _ := runCLI(t, append(append(fromProm, "--json"), common...)...)
	if got != want {
		t.Fatalf("report from Prometheus differs from the report of the same samples as CSV:\nprometheus: %s\ncsv: %s", got, want)
	}
	var rep struct {
		Input struct{ Rows int } `json:"input"`
	}
	if err := json.Unmarshal([]byte(got), &rep); err != nil || rep.Input.Rows != len(samples) {
		t.Fatalf("report from Prometheus has %d rows (%v), want the %d loaded", rep.Input.Rows, err, len(samples))
	}

	servedCSV, servedProm := filepath.Join(dir, "served-csv.csv"), filepath.Join(dir, "served-prom.csv")
	plot := filepath.Join(dir, "plot.png")
	runCLI(t, append([]string{"backtest", "--input", csv, "--served-out", servedCSV}, common...)...)
	table, _ := runCLI(t, append(append(fromProm, "--served-out", servedProm, "--plot", plot), common...)...)
	if a, b := readFile(t, servedCSV), readFile(t, servedProm); !bytes.Equal(a, b) {
		t.Fatal("--served-out from Prometheus differs from the same samples' as CSV")
	}
	if !strings.Contains(table, "prometheus: "+query) {
		t.Errorf("table does not name the query:\n%s", table)
	}
	if st, err := os.Stat(plot); err != nil || st.Size() == 0 {
		t.Errorf("--plot wrote nothing: %v", err)
	}

	for _, c := range []struct{ query, want string }{
		{`trace_load{service="nope"}`, `query "trace_load{service=\"nope\"}" returned no series`},
		// Two series at the end: refused by the first, instant, query.
		{`trace_load or label_replace(trace_load, "service", "api", "", "")`,
			`returned 2 series at ` + last.Format(time.RFC3339)},
		// The second series only in the first day: refused once the history is read.
		{fmt.Sprintf(`trace_load or label_replace(trace_load, "service", "api", "", "") and on() (vector(time()) < %d)`, first.Unix()+86400),
			`returned 2 series over [` + first.Format(time.RFC3339)},
	} {
		var out, errOut bytes.Buffer
		args := []string{"backtest", "--prometheus-url", prom.URL, "--query", c.query,
			"--end", last.Format(time.RFC3339), "--range", last.Sub(first).String()}
		if code := dispatch(context.Background(), args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q", c.query, code, errOut.String(), c.want)
		}
		if strings.Contains(c.query, " or ") {
			for _, w := range []string{`service="api"`, `service="web"`, "sum(trace_load or"} {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("%s: error lacks %q: %s", c.query, w, errOut.String())
				}
			}
		}
	}
}
