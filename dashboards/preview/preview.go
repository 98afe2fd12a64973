// Package preview renders Foresight's dashboards to PNG without Grafana: it plays a load
// trace into synthetic Envoy, OpenCost, kube-state-metrics and Foresight series in an
// embedded TSDB, evaluates the recording rules of rules/ over them with the PromQL
// engine, then evaluates every panel's queries over a range and draws them with
// gonum/plot, one PNG per dashboard with a grid of panels.
package preview

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/foresight-dev/foresight/dashboards"
	"github.com/foresight-dev/foresight/rules"
)

// Options configure a preview run.
type Options struct {
	// Load is the load to play out; it must span more than Window plus a day of
	// history for the forecasts and the long SLO windows.
	Load Load
	// Window is the time range drawn, ending at the end of the load.
	Window time.Duration
	// Step is the resolution of the drawn range queries.
	Step time.Duration
	// RulesDir holds the *.rules.yaml files to record.
	RulesDir string
	// OutDir receives one PNG per dashboard.
	OutDir string
	// Logger reports progress.
	Logger *slog.Logger
}

// PanelResult is the evaluated data of one panel.
type PanelResult struct {
	// Panel is the dashboard panel.
	Panel dashboards.Panel
	// Series are the panel's series, by legend.
	Series []Series
	// Err is the first query error, if any.
	Err error
}

// Series is one drawn line.
type Series struct {
	// Legend is the legend text with {{label}} filled in.
	Legend string
	// Times and Values are the points.
	Times  []time.Time
	Values []float64
}

// Report tells what a run drew.
type Report struct {
	// Files are the PNGs written.
	Files []string
	// Empty lists "dashboard / panel" for panels whose queries returned no data.
	Empty []string
	// Samples is the number of synthetic and recorded samples stored.
	Samples int
}

// Run renders every dashboard.
func Run(ctx context.Context, opts Options) (Report, error) {
	var rep Report
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n := len(opts.Load.Values)
	if time.Duration(n)*time.Minute < opts.Window+24*time.Hour {
		return rep, fmt.Errorf("load of %d minutes is shorter than the window %s plus a day of history", n, opts.Window)
	}
	dir, err := os.MkdirTemp("", "foresight-preview-tsdb-")
	if err != nil {
		return rep, fmt.Errorf("create TSDB directory: %w", err)
	}
	defer os.RemoveAll(dir)
	tsdbOpts := tsdb.DefaultOptions()
	tsdbOpts.OutOfOrderTimeWindow = (time.Duration(n) * time.Minute).Milliseconds()
	tsdbOpts.RetentionDuration = 0
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := tsdb.Open(dir, quiet, nil, tsdbOpts, nil)
	if err != nil {
		return rep, fmt.Errorf("open TSDB: %w", err)
	}
	defer db.Close()
	db.DisableCompactions()

	app := db.Appender(ctx)
	if err := Populate(app, opts.Load, DefaultScenario(n)); err != nil {
		_ = app.Rollback()
		return rep, err
	}
	if err := app.Commit(); err != nil {
		return rep, fmt.Errorf("commit synthetic series: %w", err)
	}
	logger.Info("synthetic series stored", "minutes", n, "source", opts.Load.Source)

	engine := promql.NewEngine(promql.EngineOpts{
		Logger:        quiet,
		MaxSamples:    200_000_000,
		Timeout:       10 * time.Minute,
		LookbackDelta: 5 * time.Minute,
	})
	start := opts.Load.Start
	end := start.Add(time.Duration(n-1) * time.Minute)
	recorded, err := recordRules(ctx, engine, db, opts.RulesDir, start, end)
	if err != nil {
		return rep, err
	}
	rep.Samples = recorded
	logger.Info("recording rules evaluated", "samples", recorded)

	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return rep, fmt.Errorf("create output directory: %w", err)
	}
	from := end.Add(-opts.Window)
	for _, def := range dashboards.All() {
		d, err := def.Build()
		if err != nil {
			return rep, err
		}
		content, err := dashboards.Marshal(d)
		if err != nil {
			return rep, err
		}
		model, err := dashboards.ParseModel(content)
		if err != nil {
			return rep, err
		}
		var results []PanelResult
		for _, p := range model.GraphPanels() {
			res := evalPanel(ctx, engine, db, p, from, end, opts.Step)
			if res.Err != nil {
				return rep, fmt.Errorf("dashboard %s, panel %q: %w", model.Title, p.Title, res.Err)
			}
			if len(res.Series) == 0 {
				rep.Empty = append(rep.Empty, model.Title+" / "+p.Title)
			}
			results = append(results, res)
		}
		var spans []span
		for _, a := range model.Annotations.List {
			s, err := annotationSpans(ctx, engine, db, a, from, end, opts.Step)
			if err != nil {
				return rep, fmt.Errorf("dashboard %s, annotation %q: %w", model.Title, a.Name, err)
			}
			spans = append(spans, s...)
		}
		out := filepath.Join(opts.OutDir, strings.TrimSuffix(def.File, ".json")+".png")
		header := fmt.Sprintf("%s  (preview from %s, %s to %s UTC)", model.Title, filepath.Base(opts.Load.Source), from.Format("2006-01-02 15:04"), end.Format("2006-01-02 15:04"))
		if err := render(out, header, results, spans); err != nil {
			return rep, err
		}
		rep.Files = append(rep.Files, out)
		logger.Info("dashboard rendered", "file", out, "panels", len(results))
	}
	return rep, nil
}

// previewValues are the Grafana variables' values in the preview: every namespace and
// metric, and the rate interval Grafana would pick for a 1-minute scrape at this step.
func previewValues(step time.Duration) map[string]string {
	rateInterval := max(step+time.Minute, 4*time.Minute)
	return map[string]string{
		"__rate_interval": fmt.Sprintf("%ds", int(rateInterval.Seconds())),
		"__interval":      fmt.Sprintf("%ds", int(step.Seconds())),
		"namespace":       ".*",
		"metric":          ".*",
		"datasource":      "prometheus",
	}
}

// recordRules evaluates every recording rule of dir, in file and group order, over
// [start, end] at a 1-minute step, and stores the results as the rule's series, as a
// Prometheus evaluating the rules every minute would.
func recordRules(ctx context.Context, engine *promql.Engine, db *tsdb.DB, dir string, start, end time.Time) (int, error) {
	files, err := rules.LoadDir(dir)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, f := range files {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Record == "" {
					continue
				}
				m, err := rangeQuery(ctx, engine, db, r.Expr, start, end, time.Minute)
				if err != nil {
					return total, fmt.Errorf("record %s (%s): %w", r.Record, f.Path, err)
				}
				app := db.Appender(ctx)
				for _, s := range m {
					b := labels.NewBuilder(s.Metric)
					b.Set(model.MetricNameLabel, r.Record)
					for k, v := range r.Labels {
						b.Set(k, v)
					}
					lset := b.Labels()
					for _, p := range s.Floats {
						if _, err := app.Append(0, lset, p.T, p.F); err != nil {
							_ = app.Rollback()
							return total, fmt.Errorf("store %s: %w", lset, err)
						}
						total++
					}
				}
				if err := app.Commit(); err != nil {
					return total, fmt.Errorf("store %s: %w", r.Record, err)
				}
			}
		}
	}
	return total, nil
}

func rangeQuery(ctx context.Context, engine *promql.Engine, q storage.Queryable, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error) {
	qry, err := engine.NewRangeQuery(ctx, q, nil, expr, start, end, step)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, res.Err)
	}
	m, err := res.Matrix()
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	return m, nil
}

func evalPanel(ctx context.Context, engine *promql.Engine, q storage.Queryable, p dashboards.Panel, from, to time.Time, step time.Duration) PanelResult {
	res := PanelResult{Panel: p}
	for _, t := range p.Targets {
		expr, err := dashboards.Expand(t.Expr, previewValues(step))
		if err != nil {
			res.Err = err
			return res
		}
		m, err := rangeQuery(ctx, engine, q, expr, from, to, step)
		if err != nil {
			res.Err = err
			return res
		}
		for _, s := range m {
			line := Series{Legend: legend(t.LegendFormat, s.Metric)}
			for _, pt := range s.Floats {
				if math.IsNaN(pt.F) || math.IsInf(pt.F, 0) {
					continue
				}
				line.Times = append(line.Times, time.UnixMilli(pt.T).UTC())
				line.Values = append(line.Values, pt.F)
			}
			if len(line.Values) > 0 {
				res.Series = append(res.Series, line)
			}
		}
	}
	sort.SliceStable(res.Series, func(i, j int) bool { return res.Series[i].Legend < res.Series[j].Legend })
	return res
}

// legend fills a Grafana legend format's {{label}} templates.
func legend(format string, lset labels.Labels) string {
	if format == "" {
		return lset.String()
	}
	out := format
	lset.Range(func(l labels.Label) {
		out = strings.ReplaceAll(out, "{{"+l.Name+"}}", l.Value)
	})
	return out
}

// span is a time range marked by an annotation.
type span struct {
	from, to time.Time
	title    string
}

func annotationSpans(ctx context.Context, engine *promql.Engine, q storage.Queryable, a dashboards.Annotation, from, to time.Time, step time.Duration) ([]span, error) {
	m, err := rangeQuery(ctx, engine, q, a.Expr, from, to, step)
	if err != nil {
		return nil, err
	}
	var out []span
	for _, s := range m {
		title := legend(a.TitleFormat, s.Metric)
		var cur *span
		var last int64
		for _, p := range s.Floats {
			t := time.UnixMilli(p.T).UTC()
			if cur != nil && p.T-last <= step.Milliseconds() {
				cur.to = t
			} else {
				if cur != nil {
					out = append(out, *cur)
				}
				cur = &span{from: t, to: t, title: title}
			}
			last = p.T
		}
		if cur != nil {
			out = append(out, *cur)
		}
	}
	return out, nil
}
