package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/foresight-dev/foresight/adapter/backtest"
	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/hpa"
	"github.com/foresight-dev/foresight/adapter/shadow"
)

func runShadowCLI(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := runShadowReport(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func writePrices(t *testing.T, dir string, start, end int64) string {
	t.Helper()
	pts, err := backtest.DayNightPrices(start, end, 2, 1, 8, 20)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("ts,price\n")
	for _, p := range pts {
		fmt.Fprintf(&b, "%d,%g\n", p.TS, p.Price)
	}
	path := filepath.Join(dir, "prices.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestShadowReportOffline(t *testing.T) {
	dir := t.TempDir()
	trace := writeTrace(t, dir, "trace.csv", 3*1440)
	prices := writePrices(t, dir, 1_700_000_000, 1_700_000_000+3*86400)
	stdout, _, err := runShadowCLI("--input", trace, "--strategies", "reactive,seasonal-naive@0.8,cost-weighted", "--prices", prices, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep shadow.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout)
	}
	if len(rep.Series) != 1 || len(rep.Series[0].Strategies) != 3 || len(rep.Verdicts[0]) != 2 {
		t.Fatalf("report shape: %s", stdout)
	}
	s := rep.Series[0]
	if s.Series != "trace.csv" || s.Strategies[1].Name != "seasonal-naive@0.8" || s.Strategies[1].Target != 0.8 || !s.Strategies[2].CostWeighted {
		t.Errorf("strategies %+v", s.Strategies)
	}
	for _, v := range rep.Verdicts[0] {
		if v.By != "dollars" || v.Reference != "reactive" {
			t.Errorf("verdict %+v, want judged by dollars against reactive", v)
		}
	}
	// 3 days of trace: the 1d window holds a day (from the first whole
	// 5-minute bucket inside it), the 7d window all of it.
	day, week := s.Strategies[0].Windows[0], s.Strategies[0].Windows[1]
	if day.Window != "1d" || day.ScoredMinutes <= 1435 || day.ScoredMinutes > 1440 || week.ScoredMinutes <= day.ScoredMinutes || week.Dollars <= day.Dollars {
		t.Errorf("windows %+v / %+v", day, week)
	}
	table, _, err := runShadowCLI("--input", trace, "--strategies", "reactive,linear")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "last 1d") || !strings.Contains(table, "last 7d") || !strings.Contains(table, "better: ") {
		t.Errorf("table:\n%s", table)
	}
}

func TestShadowReportFromMetricsURL(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := shadow.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := shadow.NewSet(shadow.Config{Capacity: 1, HPA: hpa.Config{MaxReplicas: 50}, Step: time.Minute},
		[]shadow.Strategy{
			{Name: "reactive", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 0.7},
			{Name: "hot", Settings: forecast.Settings{Model: forecast.ModelReactive}, Target: 0.9},
		}, m)
	if err != nil {
		t.Fatal(err)
	}
	id := shadow.SeriesID{Metric: "rps", Namespace: "shop", Series: `app="cart"`}
	for i := range 300 {
		if err := set.Observe(id, int64(1_700_000_000+60*i), 9); err != nil {
			t.Fatal(err)
		}
	}
	set.Publish()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	stdout, _, err := runShadowCLI("--metrics-url", srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, `rps shop app="cart", last 1d:`) || !strings.Contains(stdout, "better: hot") {
		t.Errorf("report:\n%s", stdout)
	}
}

func TestShadowReportBadInput(t *testing.T) {
	dir := t.TempDir()
	trace := writeTrace(t, dir, "trace.csv", 100)
	bad := filepath.Join(dir, "bad-prices.csv")
	if err := os.WriteFile(bad, []byte("ts,price\n1700000000,1\n1700003600,cheap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{nil, true, "exactly one of --input and --metrics-url"},
		{[]string{"--input", trace, "--metrics-url", "http://x/metrics"}, true, "exactly one"},
		{[]string{"--input", trace, "--strategies", "magic"}, true, `unknown model "magic"`},
		{[]string{"--input", trace, "--strategies", "reactive@x"}, true, `target "x"`},
		{[]string{"--input", trace, "--cost-max-utilization", "3"}, true, "maxUtilization"},
		{[]string{"--input", trace, "--prices", bad}, false, "bad-prices.csv:3: field price"},
		{[]string{"--input", trace, "--spot-prices", bad}, true, "go together"},
		{[]string{"--metrics-url", "file:///etc/passwd"}, true, "not an http(s) URL"},
	} {
		_, _, err := runShadowCLI(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, errUsage) != tc.usage {
			t.Errorf("%q: error %v, want %q (usage error %v)", tc.args, err, tc.want, tc.usage)
		}
	}
}

// TestCostBacktestMode runs the backtest's cost mode as the backtest
// subcommand does when a price flag is given.
func TestCostBacktestMode(t *testing.T) {
	dir := t.TempDir()
	samples, err := readTrace(writeTrace(t, dir, "trace.csv", 3*1440), "")
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	c := addCostFlags(fs)
	if err := fs.Parse([]string{"--day-night-prices", "2/1", "--cost-elasticity", "0.5"}); err != nil {
		t.Fatal(err)
	}
	if !c.enabled() {
		t.Fatal("--day-night-prices does not enable the cost mode")
	}
	opts := backtest.DefaultOptions()
	opts.Warmup = 24 * time.Hour
	opts.Model = forecast.ModelSeasonalNaive
	opts.TargetStep = 0.05
	var out bytes.Buffer
	if err := runCostBacktest(context.Background(), samples, opts, c, "trace.csv", true, &out); err != nil {
		t.Fatal(err)
	}
	var rep backtest.CostReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("cost report JSON: %v\n%s", err, out.String())
	}
	names := []string{}
	for _, s := range rep.Strategies {
		names = append(names, s.Name)
		if !(s.Dollars > 0) {
			t.Errorf("%s spent $%v", s.Name, s.Dollars)
		}
	}
	if strings.Join(names, ",") != "reactive,predictive,cost-weighted,predictive@u0" || rep.PriceRows < 72 {
		t.Errorf("strategies %v, %d price rows", names, rep.PriceRows)
	}
	out.Reset()
	if err := runCostBacktest(context.Background(), samples, opts, c, "trace.csv", false, &out); err != nil || !strings.Contains(out.String(), "cost-weighted spends") {
		t.Errorf("table (%v):\n%s", err, out.String())
	}
	bad := &costFlags{dayNight: "2-1"}
	if err := runCostBacktest(context.Background(), samples, opts, bad, "trace.csv", false, &out); err == nil || !errors.Is(err, errUsage) {
		t.Errorf("bad --day-night-prices: %v", err)
	}
}

// TestShadowReportSLOEqualsBacktest: the offline slo strategy runs SLO mode
// as `backtest --slo` does (the same controller on the same forecasts, the
// same objective, ceiling and HPA), so over the same scored time its
// pod-minutes and under-provisioned minutes are the backtest's SLO mode's,
// and the reactive strategy's are the backtest's baseline.
func TestShadowReportSLOEqualsBacktest(t *testing.T) {
	dir := t.TempDir()
	in := writeTrace(t, dir, "trace.csv", 4*1440) // with a gap of 30 rows
	for _, objective := range []string{"baseline", "0.3"} {
		btOut, _ := runCLI(t, "backtest", "--input", in, "--warmup", "24h", "--slo", objective, "--slo-max-utilization", "1.2", "--json")
		var bt struct {
			Baseline backtest.Scaling   `json:"baseline"`
			SLO      backtest.SLOReport `json:"slo"`
		}
		if err := json.Unmarshal([]byte(btOut), &bt); err != nil {
			t.Fatal(err)
		}
		srOut, _, err := runShadowCLI("--input", in, "--warmup", "24h", "--strategies", "reactive,slo", "--slo", objective, "--slo-max-utilization", "1.2", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var rep shadow.Report
		if err := json.Unmarshal([]byte(srOut), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Series) != 1 || len(rep.Series[0].Strategies) != 2 {
			t.Fatalf("--slo %s: report %s", objective, srOut)
		}
		reactive, s := rep.Series[0].Strategies[0], rep.Series[0].Strategies[1]
		t.Logf("--slo %s: slo strategy pod-min %.1f under-min %.2f (backtest %.1f, %.2f), reactive %.1f %.2f (backtest %.1f %.2f), state %+v",
			objective, s.Total.PodMinutes, s.Total.UnderProvisionedMinutes, bt.SLO.Scaling.PodMinutes, bt.SLO.Scaling.UnderProvisionedMinutes,
			reactive.Total.PodMinutes, reactive.Total.UnderProvisionedMinutes, bt.Baseline.PodMinutes, bt.Baseline.UnderProvisionedMinutes, s.SLO)
		if s.Name != "slo" || s.Target != 1 || s.SLO == nil || s.SLO.Objective == nil || *s.SLO.Objective != bt.SLO.UnderProvisioned {
			t.Fatalf("--slo %s: slo strategy %+v, backtest objective %v", objective, s, bt.SLO.UnderProvisioned)
		}
		if s.Total.PodMinutes != bt.SLO.Scaling.PodMinutes || s.Total.UnderProvisionedMinutes != bt.SLO.Scaling.UnderProvisionedMinutes ||
			s.Total.ScalingActions != bt.SLO.Scaling.ScalingActions {
			t.Errorf("--slo %s: slo strategy total %+v, backtest SLO mode %+v", objective, s.Total, bt.SLO.Scaling)
		}
		if reactive.Total.PodMinutes != bt.Baseline.PodMinutes || reactive.Total.UnderProvisionedMinutes != bt.Baseline.UnderProvisionedMinutes {
			t.Errorf("--slo %s: reactive total %+v, backtest baseline %+v", objective, reactive.Total, bt.Baseline)
		}
		if s.SLO.UnderProvisionedShare == nil || s.SLO.Utilization == 0.7 || s.SLO.Utilization != bt.SLO.FinalUtilization {
			t.Errorf("--slo %s: SLO state %+v: want evaluations and the backtest's final utilisation %v", objective, s.SLO, bt.SLO.FinalUtilization)
		}
		if !(s.Total.PodMinutes < reactive.Total.PodMinutes) {
			t.Errorf("--slo %s: slo strategy %v pod-minutes, reactive %v: the trace should let SLO mode save", objective, s.Total.PodMinutes, reactive.Total.PodMinutes)
		}
	}
	table, _, err := runShadowCLI("--input", in, "--strategies", "reactive,auto,slo", "--slo", "0.3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "trace.csv, slo: utilisation ") || !strings.Contains(table, "(objective 0.30%)") || !strings.Contains(table, "against reactive's") {
		t.Errorf("table lacks the slo strategy's state:\n%s", table)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--strategies", "reactive,slo"}, "needs --slo"},
		{[]string{"--strategies", "reactive", "--slo", "1"}, "needs the slo strategy"},
		{[]string{"--strategies", "reactive,slo@0.8", "--slo", "1"}, "takes no @TARGET"},
		{[]string{"--strategies", "slo,slo", "--slo", "1"}, "listed twice"},
		{[]string{"--strategies", "reactive,slo", "--slo", "100"}, "--slo"},
		{[]string{"--strategies", "reactive", "--slo-max-utilization", "1"}, "needs --slo"},
	} {
		_, _, err := runShadowCLI(append([]string{"--input", in}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errUsage) {
			t.Errorf("%q: error %v, want a usage error naming %q", tc.args, err, tc.want)
		}
	}
}
