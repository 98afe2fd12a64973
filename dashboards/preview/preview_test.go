package preview

import (
	"context"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/internal/testharness/needs"
)

// TestRunDrawsEveryPanelWithData plays a synthetic load through the real recording
// rules and every dashboard, and checks that each panel got data and each dashboard a PNG.
func TestRunDrawsEveryPanelWithData(t *testing.T) {
	root := needs.Root(t)
	out := t.TempDir()
	rep, err := Run(context.Background(), Options{
		Load:     Synthetic(1440+360, 300),
		Window:   6 * time.Hour,
		Step:     10 * time.Minute,
		RulesDir: filepath.Join(root, "rules"),
		OutDir:   out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Empty) > 0 {
		t.Errorf("panels without data:\n  %s", strings.Join(rep.Empty, "\n  "))
	}
	if len(rep.Files) != 4 {
		t.Fatalf("files %v, want one per dashboard", rep.Files)
	}
	if rep.Samples == 0 {
		t.Error("no recorded samples")
	}
	for _, f := range rep.Files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 500 {
			t.Errorf("%s: %dx%d is too small to read", f, b.Dx(), b.Dy())
		}
	}
}

func TestRunRejectsShortLoad(t *testing.T) {
	_, err := Run(context.Background(), Options{Load: Synthetic(600, 100), Window: 6 * time.Hour, Step: time.Minute, RulesDir: "x", OutDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "shorter") {
		t.Errorf("short load: %v", err)
	}
}

func TestReadTraceResamplesGapsAndScales(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.csv")
	// Minutes 0..4; rows are missing for minutes 2 and 3, and minute 1 has two rows.
	content := "ts,value\n0,10\n60,20\n90,40\n240,50\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	load, err := ReadTrace(path, 5, 50)
	if err != nil {
		t.Fatal(err)
	}
	// Per minute: 10, 30 (mean of 20 and 40), 30 and 30 carried over the gap, 50;
	// the 95th percentile (50) scales to 50.
	want := []float64{10, 30, 30, 30, 50}
	for i := range want {
		if math.Abs(load.Values[i]-want[i]) > 1e-9 {
			t.Fatalf("values %v, want %v", load.Values, want)
		}
	}
	if !load.Start.Equal(time.Unix(0, 0)) {
		t.Errorf("start %s", load.Start)
	}
}

func TestReadTraceErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		content string
		minutes int
		want    string
	}{
		"novalue.csv":  {"ts,value\n0,1\n60\n", 1, "novalue.csv:3"},
		"negative.csv": {"ts,value\n0,1\n60,-2\n", 1, "negative.csv:3"},
		"badts.csv":    {"ts,value\nx,1\n", 1, "badts.csv:2"},
		"short.csv":    {"ts,value\n0,1\n60,2\n", 10, "spans less"},
		"zero.csv":     {"ts,value\n0,1\n60,2\n", 0, "at least 1 minute"},
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadTrace(path, c.minutes, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to mention %q", name, err, c.want)
		}
	}
}

// TestReadRealTrace reads the crane trace the preview command uses by default.
func TestReadRealTrace(t *testing.T) {
	path := filepath.Join(needs.Root(t), "testdata", "traces", "crane-input1.csv")
	load, err := ReadTrace(path, 3*1440, 300)
	if err != nil {
		t.Fatal(err)
	}
	if len(load.Values) != 3*1440 {
		t.Fatalf("%d values", len(load.Values))
	}
	sorted := append([]float64(nil), load.Values...)
	sort.Float64s(sorted)
	if p95 := sorted[len(sorted)*95/100]; math.Abs(p95-300) > 1e-6 {
		t.Errorf("95th percentile %v, want 300", p95)
	}
	if sorted[0] < 0 {
		t.Errorf("negative load %v", sorted[0])
	}
}

// captureAppender keeps every appended sample by series; Populate only appends floats.
type captureAppender struct {
	storage.Appender
	values map[string][]float64
}

func (c *captureAppender) Append(ref storage.SeriesRef, l labels.Labels, _ int64, v float64) (storage.SeriesRef, error) {
	c.values[l.String()] = append(c.values[l.String()], v)
	return ref, nil
}

// TestPopulateRunsTheAdaptersForecasterAndHPA: the served value of each upstream is
// what the adapter's own forecast.Forecaster serves for its request rate, and the web
// HPA's replicas, from the hpa model, stay within its bounds and follow the load.
func TestPopulateRunsTheAdaptersForecasterAndHPA(t *testing.T) {
	load := Synthetic(1440+360, 300)
	app := &captureAppender{values: map[string][]float64{}}
	if err := Populate(app, load, DefaultScenario(len(load.Values))); err != nil {
		t.Fatal(err)
	}
	served := findSeries(t, app.values, "foresight_forecast_served_value", "cart")
	if len(served) != len(load.Values) {
		t.Fatalf("cart's served value: %d samples, want %d", len(served), len(load.Values))
	}
	f, err := forecast.NewForecaster(forecastSettings)
	if err != nil {
		t.Fatal(err)
	}
	models := map[forecast.Model]bool{}
	for i, v := range load.Values {
		if err := f.Observe(load.Start.Unix()+int64(i)*60, v*0.6); err != nil {
			t.Fatal(err)
		}
		fc := f.Serve()
		models[fc.Model] = true
		if served[i] != fc.Value {
			t.Fatalf("minute %d: preview serves %v for cart, the adapter's forecaster %v", i, served[i], fc.Value)
		}
	}
	if len(models) < 2 {
		t.Errorf("models served %v: want the reactive warm-up and then a fitted model", models)
	}
	replicas := findSeries(t, app.values, "kube_horizontalpodautoscaler_status_desired_replicas", "web")
	lo, hi := replicas[0], replicas[0]
	for _, r := range replicas {
		if r < hpaMin || r > hpaMax {
			t.Fatalf("replicas %v outside [%d, %d]", r, hpaMin, hpaMax)
		}
		lo, hi = min(lo, r), max(hi, r)
	}
	if !(hi > lo) {
		t.Errorf("replicas stayed at %v over a diurnal load", lo)
	}
}

// findSeries returns the samples of the one series named name whose labels mention part.
func findSeries(t *testing.T, values map[string][]float64, name, part string) []float64 {
	t.Helper()
	var found []float64
	n := 0
	for k, v := range values {
		if strings.Contains(k, `__name__="`+name+`"`) && strings.Contains(k, part) {
			found, n = v, n+1
		}
	}
	if n != 1 {
		t.Fatalf("%d series %s mentioning %q, want 1", n, name, part)
	}
	return found
}
