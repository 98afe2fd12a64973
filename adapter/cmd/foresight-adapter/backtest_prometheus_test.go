package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/foresight-dev/foresight/adapter/source"
)

func TestBacktestPrometheusFlagErrors(t *testing.T) {
	path := writeTrace(t, t.TempDir(), "trace.csv", 2*1440)
	url := "http://127.0.0.1:1" // never reached: every case is refused before a query
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "give exactly one of --input FILE.csv and --prometheus-url URL"},
		{[]string{"--input", path, "--prometheus-url", url, "--query", "up"}, "exactly one of --input FILE.csv and --prometheus-url URL, not both"},
		{[]string{"--prometheus-url", url}, "--prometheus-url needs --query PROMQL"},
		{[]string{"--prometheus-url", url, "--query", " "}, "--prometheus-url needs --query PROMQL"},
		{[]string{"--input", path, "--query", "up"}, "--query reads from Prometheus"},
		{[]string{"--input", path, "--range", "1h"}, "--range reads from Prometheus"},
		{[]string{"--input", path, "--prometheus-timeout", "1s"}, "--prometheus-timeout reads from Prometheus"},
		{[]string{"--prometheus-url", url, "--query", "up", "--step", "1500ms"}, "--step 1.5s must be a whole number of seconds"},
		{[]string{"--prometheus-url", url, "--query", "up", "--step", "0s"}, "--step 0s must be a whole number of seconds"},
		{[]string{"--prometheus-url", url, "--query", "up", "--range", "30s"}, "--range 30s must be at least --step 1m0s"},
		{[]string{"--prometheus-url", url, "--query", "up", "--range", "87600h", "--step", "1s"}, "shorten --range or lengthen --step"},
		{[]string{"--prometheus-url", url, "--query", "up", "--end", "yesterday"}, `--end "yesterday" is not an RFC 3339 time`},
		{[]string{"--prometheus-url", url, "--query", "up", "--prometheus-timeout", "soon"}, "prometheus-timeout"},
		{[]string{"--prometheus-url", url, "--query", "up", "--prometheus-bearer-token-file", "/nonexistent"}, ""},
	} {
		var out, errOut bytes.Buffer
		code := dispatch(context.Background(), append([]string{"backtest"}, c.args...), &out, &errOut)
		if c.want == "" {
			// A connection error, not a usage error: the flags were accepted.
			if code != 1 {
				t.Errorf("%q: exit %d, want 1: %s", c.args, code, errOut.String())
			}
			continue
		}
		if code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}

func TestBacktestPrometheusUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := dispatch(context.Background(), []string{"backtest", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"--prometheus-url URL --query PROMQL", "-prometheus-bearer-token-file", "-prometheus-header", "-prometheus-max-response-bytes", "-query", "-range", "-step", "-end"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, errOut.String())
		}
	}
	if strings.Contains(errOut.String(), "panic") {
		t.Errorf("usage reports a panic:\n%s", errOut.String())
	}
}

func TestPromHistoryWindow(t *testing.T) {
	f := promHistoryFlags{rng: 2 * time.Hour, step: time.Minute, end: "2026-01-02T03:04:59+02:00"}
	start, end := f.window(time.Time{})
	if want := time.Date(2026, 1, 2, 1, 4, 0, 0, time.UTC); !end.Equal(want) {
		t.Errorf("end %v, want %v (on the step's grid)", end, want)
	}
	if want := end.Add(-2 * time.Hour); !start.Equal(want) {
		t.Errorf("start %v, want %v", start, want)
	}
	f = promHistoryFlags{rng: 10 * time.Minute, step: 7 * time.Second}
	now := time.Unix(1_700_000_123, 500)
	start, end = f.window(now)
	if end.Unix()%7 != 0 || start.Unix()%7 != 0 || end.After(now) || now.Sub(end) >= 7*time.Second {
		t.Errorf("step 7s at %v: window [%v, %v] not on the step's Unix grid ending at or before now", now, start, end)
	}
	if got := end.Sub(start); got != 85*7*time.Second {
		t.Errorf("window spans %v, want 85 steps of 7s", got)
	}
}

func TestSeriesSamples(t *testing.T) {
	start, end := time.Unix(1_700_000_000, 0).UTC(), time.Unix(1_700_000_600, 0).UTC()
	one := source.Series{Labels: labels.FromStrings("job", "web"), Samples: []source.Sample{
		{T: 1_700_000_000_000, V: 1.5}, {T: 1_700_000_120_000, V: 2}, // a gap at 1_700_000_060
	}}
	got, err := seriesSamples("q", []source.Series{one}, start, end, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].TS != 1_700_000_000 || got[0].Value != 1.5 || got[1].TS != 1_700_000_120 || got[1].Value != 2 {
		t.Fatalf("got %+v, want the two points in Unix seconds with the gap kept", got)
	}

	_, err = seriesSamples(`rate(x[5m])`, nil, start, end, time.Minute)
	if err == nil || !strings.Contains(err.Error(), `query "rate(x[5m])" returned no series`) {
		t.Errorf("no series: %v", err)
	}

	var many []source.Series
	for i := range 8 {
		many = append(many, source.Series{Labels: labels.FromStrings("pod", fmt.Sprintf("web-%d", i), "zz", strings.Repeat("x", 200))})
	}
	_, err = seriesSamples(`rate(x[5m])`, many, start, end, time.Minute)
	msg := fmt.Sprint(err)
	for _, want := range []string{`query "rate(x[5m])" returned 8 series`, `pod="web-0"`, `pod="web-4"`, "and 3 more", "sum(rate(x[5m]))"} {
		if !strings.Contains(msg, want) {
			t.Errorf("many series: error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, `pod="web-5"`) || strings.Contains(msg, strings.Repeat("x", 200)) {
		t.Errorf("many series: label sets not truncated: %s", msg)
	}

	for _, v := range []float64{-1, math.NaN()} {
		bad := source.Series{Labels: labels.EmptyLabels(), Samples: []source.Sample{{T: 1_700_000_000_000, V: v}}}
		if _, err := seriesSamples("q", []source.Series{bad}, start, end, time.Minute); err == nil || !strings.Contains(err.Error(), "2023-11-14T22:13:20Z") {
			t.Errorf("value %v: got %v, want an error naming its time", v, err)
		}
	}
}
