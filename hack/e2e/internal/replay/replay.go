// Package replay turns a recorded load trace into Prometheus data: it reads a
// trace (CSV ts,value), writes it as a request counter per target series in
// OpenMetrics, to be backfilled into a real Prometheus (the harness's
// promserver) with promtool. Time acceleration is the adapter's business (its data clock runs
// faster than the wall clock); Prometheus only holds the samples, at their
// recorded times plus a fixed shift.
package replay

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/foresight-dev/foresight/adapter/trace"
)

// Sample is one trace point.
type Sample struct {
	// T is the time.
	T time.Time
	// V is the load (requests per second) during the step that ends at T.
	V float64
}

// Trace is a load trace with a fixed step, oldest first. Missing rows are gaps.
type Trace struct {
	// Step is the spacing of rows.
	Step time.Duration
	// Samples are the rows.
	Samples []Sample
}

// LoadTrace reads a load trace CSV (package trace of the root module: rows
// ts,value, the time and load). Its step is the smallest spacing of rows.
func LoadTrace(path string) (*Trace, error) {
	rows, err := trace.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 {
		return nil, fmt.Errorf("trace %s: fewer than two rows", path)
	}
	tr := &Trace{Samples: make([]Sample, len(rows))}
	for i, r := range rows {
		tr.Samples[i] = Sample{T: time.Unix(r.TS, 0).UTC(), V: r.Value}
	}
	tr.Step = tr.Samples[1].T.Sub(tr.Samples[0].T)
	for i := 2; i < len(tr.Samples); i++ {
		tr.Step = min(tr.Step, tr.Samples[i].T.Sub(tr.Samples[i-1].T))
	}
	return tr, nil
}

// Window returns the samples with from <= T <= to.
func (tr *Trace) Window(from, to time.Time) []Sample {
	i := sort.Search(len(tr.Samples), func(i int) bool { return !tr.Samples[i].T.Before(from) })
	j := sort.Search(len(tr.Samples), func(i int) bool { return tr.Samples[i].T.After(to) })
	return tr.Samples[i:j]
}

// At returns the load of the step that contains t (the first sample at or
// after t), and false in a gap or outside the trace.
func (tr *Trace) At(t time.Time) (float64, bool) {
	i := sort.Search(len(tr.Samples), func(i int) bool { return !tr.Samples[i].T.Before(t) })
	if i == len(tr.Samples) || tr.Samples[i].T.Sub(t) >= tr.Step {
		return 0, false
	}
	return tr.Samples[i].V, true
}

// Mean returns the mean load of the n steps ending with the one that contains
// t: what rate() gives on the replayed counter over a window that spans n
// steps of increase (RateSteps). False if any step is a gap.
func (tr *Trace) Mean(t time.Time, n int) (float64, bool) {
	var sum float64
	for k := range n {
		v, ok := tr.At(t.Add(-time.Duration(k) * tr.Step))
		if !ok {
			return 0, false
		}
		sum += v
	}
	return sum / float64(n), true
}

// RateSteps returns how many steps of increase rate() over window sees on a
// counter sampled every step, in Prometheus of major version promMajor:
// Prometheus 2 range selectors include both ends ([2m] at a 1m step holds
// three samples, two steps), Prometheus 3 ones exclude the start (two
// samples, one step, extrapolated to the window).
func RateSteps(window, step time.Duration, promMajor int) int {
	n := int(window / step)
	if promMajor >= 3 {
		n--
	}
	return max(1, n)
}

// Series are the labels of one counter series that replays the trace.
type Series map[string]string

// WriteOpenMetrics writes samples as the counter family name ("<name>_total"
// samples) for every series: the counter grows by V*step at each sample, so
// rate() over it gives back the trace's load.
func WriteOpenMetrics(w io.Writer, name, help string, samples []Sample, step time.Duration, series []Series) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
	labels := make([]string, len(series))
	for i, s := range series {
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for j, k := range keys {
			parts[j] = fmt.Sprintf("%s=%q", k, s[k])
		}
		labels[i] = strings.Join(parts, ",")
	}
	// One series after the other: each series' samples in time order.
	for i := range series {
		var total float64
		for _, s := range samples {
			total += s.V * step.Seconds()
			fmt.Fprintf(bw, "%s_total{%s} %s %d\n", name, labels[i], strconv.FormatFloat(total, 'f', -1, 64), s.T.Unix())
		}
	}
	fmt.Fprintln(bw, "# EOF")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write openmetrics: %w", err)
	}
	return nil
}

// PrometheusArgs are the extra Prometheus flags of a replay: the replayed
// data is years old, so keep it, and never compact the backfilled 2h blocks
// (compaction only costs CPU here).
var PrometheusArgs = []string{
	"--storage.tsdb.min-block-duration=2h",
	"--storage.tsdb.max-block-duration=2h",
}
