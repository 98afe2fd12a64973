package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writeTrace writes a generated daily-periodic trace of rows one-minute
// samples (with a 30-minute gap) and returns its path.
func writeTrace(t *testing.T, dir, name string, rows int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("ts,value\n")
	for i := range rows {
		if i >= 600 && i < 630 {
			continue
		}
		ts := 1_700_000_000 + int64(i)*60
		v := 50 + 30*math.Sin(2*math.Pi*float64(i)/1440) + 3*math.Sin(float64(i)*0.7)
		fmt.Fprintf(&b, "%d,%.3f\n", ts, v)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("%q: exit %d: %s", args, code, stderr.String())
	}
	return stdout.String(), stderr.String()
}

func TestBacktestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	full := writeTrace(t, dir, "full.csv", 3*1440)
	servedFull := filepath.Join(dir, "served-full.csv")
	plot := filepath.Join(dir, "plot.png")
	stdout, stderr := runCLI(t, "backtest", "--input", full, "--warmup", "24h", "--json",
		"--served-out", servedFull, "--plot", plot)
	if stderr != "" {
		t.Errorf("stderr is not a terminal, yet got output %q", stderr)
	}
	var report map[string]any
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	if _, ok := report["predictive"]; !ok {
		t.Fatalf("report lacks predictive: %s", stdout)
	}

	f, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("--plot did not write a PNG: %v", err)
	}

	served := readLines(t, servedFull)
	input := readLines(t, full)
	if len(served) != len(input) || served[0] != "ts,value" {
		t.Fatalf("served-out has %d lines (header %q), input %d", len(served), served[0], len(input))
	}
	for i := 1; i < len(input); i++ {
		if strings.Split(served[i], ",")[0] != strings.Split(input[i], ",")[0] {
			t.Fatalf("served-out line %d %q does not match input ts %q", i+1, served[i], input[i])
		}
	}

	// Deterministic: the same input gives the same bytes.
	again := filepath.Join(dir, "served-again.csv")
	runCLI(t, "backtest", "--input", full, "--warmup", "24h", "--served-out", again)
	if a, b := readFile(t, servedFull), readFile(t, again); !bytes.Equal(a, b) {
		t.Fatal("two runs on the same input wrote different served values")
	}

	// Causal: truncating the input leaves every earlier served value unchanged.
	short := filepath.Join(dir, "short.csv")
	if err := os.WriteFile(short, []byte(strings.Join(input[:1500], "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	servedShort := filepath.Join(dir, "served-short.csv")
	runCLI(t, "backtest", "--input", short, "--warmup", "0s", "--served-out", servedShort)
	got := readLines(t, servedShort)
	if len(got) != 1500 {
		t.Fatalf("truncated served-out has %d lines, want 1500", len(got))
	}
	for i := range got {
		if got[i] != served[i] {
			t.Fatalf("line %d: truncated input served %q, full input %q", i+1, got[i], served[i])
		}
	}
}

func TestBacktestTableAndBadInput(t *testing.T) {
	dir := t.TempDir()
	path := writeTrace(t, dir, "trace.csv", 2*1440)
	stdout, _ := runCLI(t, "backtest", "--input", path, "--warmup", "12h")
	for _, want := range []string{"trace.csv:", "strategy", "predictive", "reverse check"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}

	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("ts,value\n60,1\n120,oops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := dispatch(context.Background(), []string{"backtest", "--input", bad}, &out, &errOut); code != 1 {
		t.Fatalf("malformed input: exit %d, want 1", code)
	}
	if want := bad + `:3: field value: "oops" is not a number`; !strings.Contains(errOut.String(), want) {
		t.Fatalf("stderr %q lacks %q", errOut.String(), want)
	}
}

// TestBacktestColumnOfAWideFile: --column reads one series of a file of
// several side by side (Grafana's export: quoted header, local date-times,
// empty cells) and serves what the same series serves from a ts,value
// file; a column the header lacks, or --column without --input, is refused.
func TestBacktestColumnOfAWideFile(t *testing.T) {
	dir := t.TempDir()
	narrow := writeTrace(t, dir, "narrow.csv", 3*1440)
	rows, err := os.ReadFile(narrow)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("\"Time\",\"{pod=\"\"other\"\"}\",\"{pod=\"\"web\"\"}\"\n")
	for i, line := range strings.Split(strings.TrimSpace(string(rows)), "\n")[1:] {
		ts, v, _ := strings.Cut(line, ",")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		other := ""
		if i%7 != 0 {
			other = strconv.Itoa(i % 13)
		}
		fmt.Fprintf(&b, "%s,%s,%s\n", time.Unix(sec, 0).UTC().Format(time.DateTime), other, v)
	}
	wide := filepath.Join(dir, "wide.csv")
	if err := os.WriteFile(wide, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	servedNarrow, servedWide := filepath.Join(dir, "served-narrow.csv"), filepath.Join(dir, "served-wide.csv")
	runCLI(t, "backtest", "--input", narrow, "--warmup", "24h", "--served-out", servedNarrow)
	runCLI(t, "backtest", "--input", wide, "--column", `{pod="web"}`, "--warmup", "24h", "--served-out", servedWide)
	a, errA := os.ReadFile(servedNarrow)
	w, errW := os.ReadFile(servedWide)
	if errA != nil || errW != nil || len(a) == 0 || !bytes.Equal(a, w) {
		t.Fatalf("served values differ between the ts,value file and its column of the wide file (%v, %v)", errA, errW)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"backtest", "--input", wide, "--column", "web"}, wide + `:1: no column named "web" after the time's: the header has "{pod=\"other\"}", "{pod=\"web\"}"`},
		{[]string{"backtest", "--input", wide}, wide + `:1: no column named "value" after the time's: the header has "{pod=\"other\"}", "{pod=\"web\"}" (name the load's column with --column)`},
		{[]string{"backtest", "--prometheus-url", "http://127.0.0.1:1", "--query", "up", "--column", "x"}, "--column picks a column of --input"},
		{[]string{"shadow-report", "--metrics-url", "http://127.0.0.1:1/metrics", "--column", "x"}, "--column picks a column of --input"},
	} {
		var out, errOut bytes.Buffer
		if code := dispatch(context.Background(), tc.args, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want it to contain %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

// TestBacktestInputShorterThanWarmup: a day of rows with the default
// two-day warm-up fails (exit 1, nothing on stdout) naming the input, its
// length and the warm-up, and how to lower it; the suggested --warmup works.
func TestBacktestInputShorterThanWarmup(t *testing.T) {
	path := writeTrace(t, t.TempDir(), "day.csv", 1440)
	var out, errOut bytes.Buffer
	if code := dispatch(context.Background(), []string{"backtest", "--input", path}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1; stdout:\n%s", code, out.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout not empty:\n%s", out.String())
	}
	for _, want := range []string{path + ": ", "spans 23h59m0s (1410 rows)", "warm-up of 48h0m0s", "--warmup 11h59m0s"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr %q lacks %q", errOut.String(), want)
		}
	}
	stdout, _ := runCLI(t, "backtest", "--input", path, "--warmup", "11h59m0s")
	if !strings.Contains(stdout, "reverse check") {
		t.Errorf("with the suggested warm-up, no report:\n%s", stdout)
	}
}

// TestBacktestTimestampForms: the same trace written in Unix milliseconds
// and in RFC 3339 (with an offset and CRLF line ends) gives the backtest
// and shadow-report the same JSON reports and served values as in Unix
// seconds. Each form's file has the same base name, which the shadow-report
// names the series by.
func TestBacktestTimestampForms(t *testing.T) {
	root := t.TempDir()
	seconds := writeTrace(t, root, "trace.csv", 2*1440)
	lines := readLines(t, seconds)
	forms := map[string]func(ts int64) string{
		"milliseconds": func(ts int64) string { return fmt.Sprintf("%d", ts*1000) },
		"rfc3339": func(ts int64) string {
			return time.Unix(ts, 0).In(time.FixedZone("", 5*3600+1800)).Format(time.RFC3339)
		},
	}
	inputs := map[string]string{"seconds": seconds}
	for form, write := range forms {
		var b strings.Builder
		b.WriteString(lines[0] + "\r\n")
		for _, line := range lines[1:] {
			tsText, value, _ := strings.Cut(line, ",")
			ts, err := strconv.ParseInt(tsText, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(write(ts) + "," + value + "\r\n")
		}
		dir := filepath.Join(root, form)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		inputs[form] = filepath.Join(dir, "trace.csv")
		if err := os.WriteFile(inputs[form], []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if first := strings.SplitN(string(readFile(t, inputs["rfc3339"])), "\r\n", 3)[1]; !strings.HasPrefix(first, "2023-11-15T03:43:20+05:30,") {
		t.Fatalf("rfc3339 input starts %q", first)
	}

	type outputs struct{ backtest, served, shadow string }
	run := func(form string) outputs {
		served := filepath.Join(root, form+"-served.csv")
		report, _ := runCLI(t, "backtest", "--input", inputs[form], "--warmup", "12h", "--json", "--served-out", served)
		shadow, _ := runCLI(t, "shadow-report", "--input", inputs[form], "--warmup", "12h", "--strategies", "reactive,linear", "--json")
		return outputs{report, string(readFile(t, served)), shadow}
	}
	want := run("seconds")
	if !strings.Contains(want.backtest, `"predictive"`) || !strings.Contains(want.shadow, `"trace.csv"`) {
		t.Fatalf("reports from Unix seconds lack their fields:\n%s\n%s", want.backtest, want.shadow)
	}
	for form := range forms {
		got := run(form)
		if got.backtest != want.backtest {
			t.Errorf("%s: backtest report differs from Unix seconds':\n%s\nwant\n%s", form, got.backtest, want.backtest)
		}
		if got.served != want.served {
			t.Errorf("%s: served values differ from Unix seconds'", form)
		}
		if got.shadow != want.shadow {
			t.Errorf("%s: shadow report differs from Unix seconds':\n%s\nwant\n%s", form, got.shadow, want.shadow)
		}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	return strings.Split(strings.TrimRight(string(readFile(t, path)), "\n"), "\n")
}

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	p := &progressLine{w: &buf, last: -1}
	p.clear() // nothing drawn yet: nothing to clear
	if buf.Len() != 0 {
		t.Fatalf("clear before any update wrote %q", buf.String())
	}
	p.update("forecasting", 1, 200)
	p.update("forecasting", 1, 200) // same percent: no redraw
	p.update("forecasting", 100, 200)
	p.clear()
	got := buf.String()
	if n := strings.Count(got, "\r"); n != 3 {
		t.Fatalf("%d redraws in %q, want 2 updates and 1 clear", n, got)
	}
	if !strings.Contains(got, " 50% (100/200 rows)") {
		t.Fatalf("progress %q lacks the 50%% line", got)
	}
}

func TestBacktestFlagsReachReport(t *testing.T) {
	dir := t.TempDir()
	path := writeTrace(t, dir, "trace.csv", 2*1440)
	stdout, _ := runCLI(t, "backtest", "--input", path, "--warmup", "12h", "--json",
		"--horizon", "10m", "--quantile", "0.8", "--model", "seasonal-naive", "--startup", "60s",
		"--reactive-target", "0.6", "--capacity", "5", "--filter-spikes")
	var rep struct {
		Settings struct {
			FilterSpikes   string  `json:"filter_spikes"`
			Horizon        float64 `json:"horizon_seconds"`
			Quantile       float64 `json:"quantile"`
			Model          string  `json:"model"`
			Startup        float64 `json:"startup_delay_seconds"`
			Warmup         float64 `json:"warmup_seconds"`
			ReactiveTarget float64 `json:"reactive_target"`
			Capacity       float64 `json:"capacity"`
		} `json:"settings"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	s := rep.Settings
	if s.Horizon != 600 || s.Quantile != 0.8 || s.Model != "seasonal-naive" || s.Startup != 60 ||
		s.Warmup != 43200 || s.ReactiveTarget != 0.6 || s.Capacity != 5 || s.FilterSpikes != "on" {
		t.Fatalf("settings %+v do not match the flags", s)
	}
}

// TestBacktestCompareModels: --compare-models reaches the report (the
// models forced alone as strategies, listed in the table) and is refused
// where the report has no such strategies (queue mode, price inputs).
func TestBacktestCompareModels(t *testing.T) {
	dir := t.TempDir()
	path := writeTrace(t, dir, "trace.csv", 2*1440)
	stdout, _ := runCLI(t, "backtest", "--input", path, "--warmup", "12h", "--json", "--compare-models")
	var rep struct {
		Settings struct {
			CompareModels bool `json:"compare_models"`
		} `json:"settings"`
		Strategies []struct {
			Name string `json:"name"`
		} `json:"strategies"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rep.Strategies {
		names = append(names, s.Name)
	}
	if !rep.Settings.CompareModels || !slices.Contains(names, "holt-winters") || !slices.Contains(names, "prophet") {
		t.Fatalf("compare_models %v, strategies %v: want the models forced alone", rep.Settings.CompareModels, names)
	}
	stdout, _ = runCLI(t, "backtest", "--input", path, "--warmup", "12h", "--compare-models")
	if !strings.Contains(stdout, "models forced alone, by share of perfect foresight: ") {
		t.Fatalf("table lacks the models forced alone:\n%s", stdout)
	}
	for _, extra := range [][]string{{"--queue-throughput", "1"}, {"--day-night-prices", "2/1"}} {
		var out, errOut bytes.Buffer
		args := append([]string{"backtest", "--input", path, "--warmup", "12h", "--compare-models"}, extra...)
		if code := dispatch(context.Background(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--compare-models") {
			t.Errorf("--compare-models with %v: exit %d, want 2 naming the flag\n%s", extra, code, errOut.String())
		}
	}
}

// TestBacktestRuleSchedule checks that --rules/--rule bound the served values
// by the rule's schedule at the trace's time.
func TestBacktestRuleSchedule(t *testing.T) {
	dir := t.TempDir()
	trace := writeTrace(t, dir, "trace.csv", 2*1440)
	rules := filepath.Join(dir, "rules.yaml")
	writeTestFile(t, rules, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: load
    query: sum by (namespace) (load{<<.LabelMatchers>>})
    schedule:
      - {start: "00:00", end: "24:00", min: 1000}
`), 0o600)
	served := filepath.Join(dir, "served.csv")
	runCLI(t, "backtest", "--input", trace, "--warmup", "24h", "--json", "--served-out", served, "--rules", rules, "--rule", "load")
	rows := strings.Split(strings.TrimSpace(readTestFile(t, served)), "\n")
	if len(rows) < 1000 {
		t.Fatalf("served CSV has %d rows", len(rows))
	}
	for _, row := range rows[1:] {
		if _, v, _ := strings.Cut(row, ","); v != "1000" {
			t.Fatalf("served row %q, want the floor 1000 (the trace stays below 90)", row)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := dispatch(context.Background(), []string{"backtest", "--input", trace, "--rule", "load"}, &stdout, &stderr); code != 2 {
		t.Errorf("--rule without --rules: exit %d, want 2", code)
	}
	if code := dispatch(context.Background(), []string{"backtest", "--input", trace, "--rules", rules, "--rule", "nope"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `no rule "nope"`) {
		t.Errorf("unknown rule: exit %d, stderr %q", code, stderr.String())
	}
}

// TestBacktestQueueMode runs the queue backtest from the command line on a
// daily batch of arrivals.
func TestBacktestQueueMode(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("ts,value\n")
	for i := range 3 * 1440 {
		v := 0.0
		if i%1440 >= 540 && i%1440 < 570 { // 09:00-09:30
			v = 2
		}
		fmt.Fprintf(&b, "%d,%g\n", 1_764_547_200+int64(i)*60, v)
	}
	path := filepath.Join(dir, "batch.csv")
	writeTestFile(t, path, []byte(b.String()), 0o600)
	stdout, _ := runCLI(t, "backtest", "--input", path, "--queue-throughput", "0.5", "--min-replicas", "0",
		"--model", "seasonal-naive", "--startup", "60s", "--warmup", "36h", "--json")
	var rep struct {
		Strategies []struct {
			Name      string  `json:"name"`
			ColdWakes int     `json:"cold_wakes"`
			Wait      float64 `json:"mean_first_job_wait_seconds"`
			P50       float64 `json:"p50_first_job_wait_seconds"`
			P99       float64 `json:"p99_first_job_wait_seconds"`
			Zero      float64 `json:"zero_share"`
		} `json:"strategies"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Strategies) != 4 {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	for _, s := range rep.Strategies {
		switch s.Name {
		case "predictive", "always-on":
			if s.ColdWakes != 0 {
				t.Errorf("%s: %d cold wakes, want 0", s.Name, s.ColdWakes)
			}
		default:
			if s.Wait < 60 || s.P50 < 60 || s.P99 < s.P50 {
				t.Errorf("%s: first-job wait mean %vs, p50 %vs, p99 %vs; want at least the 60s start-up, p50 <= p99", s.Name, s.Wait, s.P50, s.P99)
			}
		}
		if s.Name != "always-on" && !(s.Zero > 0.5) {
			t.Errorf("%s: %v of the time at zero with --min-replicas 0", s.Name, s.Zero)
		}
	}
	// A queue rule's settings switch to queue mode, its schedule included:
	// a floor of 1 from 08:55 leaves no cold wake to reactive-backlog.
	rules := filepath.Join(dir, "rules.yaml")
	writeTestFile(t, rules, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: demand
    query: sum by (namespace, queue) (rate(jobs_total{<<.LabelMatchers>>}[2m]))
    queue: {backlog: 'sum by (namespace, queue) (jobs_waiting{<<.LabelMatchers>>})', throughput: 0.5}
    schedule: [{start: "08:55", end: "09:05", min: 1}]
`), 0o600)
	stdout, _ = runCLI(t, "backtest", "--input", path, "--rules", rules, "--rule", "demand", "--min-replicas", "0",
		"--model", "seasonal-naive", "--startup", "60s", "--warmup", "36h", "--json")
	rep.Strategies = nil
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || len(rep.Strategies) != 4 {
		t.Fatalf("--rules with a queue rule: %v\n%s", err, stdout)
	}
	for _, s := range rep.Strategies {
		if s.Name == "reactive-backlog" && s.ColdWakes != 0 {
			t.Errorf("reactive-backlog under the rule's schedule: %d cold wakes, want 0", s.ColdWakes)
		}
	}
	var out, errOut bytes.Buffer
	if code := dispatch(context.Background(), []string{"backtest", "--input", path, "--queue-throughput", "-1"}, &out, &errOut); code != 2 {
		t.Errorf("negative throughput: exit %d, want 2", code)
	}
	if code := dispatch(context.Background(), []string{"backtest", "--input", path, "--arrivals-above", "1"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--arrivals-above needs queue mode") {
		t.Errorf("--arrivals-above outside queue mode: exit %d, want 2\n%s", code, errOut.String())
	}
}

func TestBacktestSLOMode(t *testing.T) {
	dir := t.TempDir()
	in := writeTrace(t, dir, "trace.csv", 3*1440)
	stdout, _ := runCLI(t, "backtest", "--input", in, "--warmup", "24h", "--slo", "0.5", "--slo-max-utilization", "1.1")
	if !strings.Contains(stdout, "SLO mode (under-provisioned at most 0.50%, utilisation at most 110%)") {
		t.Errorf("table lacks the SLO mode line:\n%s", stdout)
	}
	stdout, _ = runCLI(t, "backtest", "--input", in, "--warmup", "24h", "--slo", "baseline", "--json")
	var report struct {
		Baseline struct {
			Share float64 `json:"underprovisioned_share"`
		} `json:"baseline"`
		SLO *struct {
			Objective float64 `json:"underprovisioned_objective"`
			Ceiling   float64 `json:"max_utilization"`
		} `json:"slo"`
	}
	if err := json.Unmarshal([]byte(stdout), &report); err != nil {
		t.Fatal(err)
	}
	if report.SLO == nil || report.SLO.Objective != report.Baseline.Share || report.SLO.Ceiling != 1.5 {
		t.Errorf("--slo baseline: slo %+v, baseline share %v; want the baseline's share and the grid's top 1.5", report.SLO, report.Baseline.Share)
	}
	for _, bad := range [][]string{{"--slo", "150"}, {"--slo", "x"}, {"--slo-max-utilization", "0.9"}} {
		var o, e bytes.Buffer
		args := append([]string{"backtest", "--input", in}, bad...)
		if code := dispatch(context.Background(), args, &o, &e); code != 2 || !strings.Contains(e.String(), "slo") {
			t.Errorf("%q: exit %d, stderr %q; want a usage error naming slo", bad, code, e.String())
		}
	}
}

// TestBacktestFilterSpikesFlag: --filter-spikes takes auto, on or off (true
// and false too, and alone means on) and names the choices when given
// anything else.
func TestBacktestFilterSpikesFlag(t *testing.T) {
	dir := t.TempDir()
	path := writeTrace(t, dir, "trace.csv", 2*1440)
	for _, c := range []struct{ arg, want string }{
		{"", "auto"}, {"--filter-spikes=off", "off"}, {"--filter-spikes=false", "off"},
		{"--filter-spikes=true", "on"}, {"--filter-spikes=auto", "auto"},
	} {
		args := []string{"backtest", "--input", path, "--warmup", "12h", "--json", "--model", "seasonal-naive"}
		if c.arg != "" {
			args = append(args, c.arg)
		}
		stdout, _ := runCLI(t, args...)
		var rep struct {
			Settings struct {
				FilterSpikes string `json:"filter_spikes"`
			} `json:"settings"`
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Settings.FilterSpikes != c.want {
			t.Errorf("%q: filter_spikes %q, want %q", c.arg, rep.Settings.FilterSpikes, c.want)
		}
	}
	var stdout, stderr bytes.Buffer
	code := dispatch(context.Background(), []string{"backtest", "--input", path, "--filter-spikes=median"}, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "filter-spikes") || !strings.Contains(stderr.String(), "auto, on, off") {
		t.Errorf("--filter-spikes=median: exit %d, stderr %q; want a usage error naming the flag and the choices", code, stderr.String())
	}
}
