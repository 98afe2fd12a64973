package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/spf13/pflag"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/config/promadapter"
	"github.com/foresight-dev/foresight/adapter/serving"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/internal/cli"
)

// errInvalidConfig marks a rule file that failed validation; its errors were printed.
var errInvalidConfig = errors.New("invalid rule file")

// runCheckConfig implements `foresight-adapter check-config FILE`: it validates
// a rule file and prints each error with its file, line and field. It also
// renders every rule's query as the adapter would, so a file that passes here
// loads in `serve`. A prometheus-adapter configuration is checked on its own,
// and with --prometheus-url its metrics are discovered and their rules checked.
func runCheckConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("check-config", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("config-format", serving.FormatAuto, "format of FILE: auto (by shape), foresight or prometheus-adapter")
	var policy config.Policy
	policy.AddFlags(fs)
	var prom source.PrometheusConfig
	prom.AddFlags(fs)
	relist := fs.Duration("metrics-relist-interval", 10*time.Minute, "prometheus-adapter configs: how far back series are looked for")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: foresight-adapter check-config [--config-format F] [--prometheus-url URL] FILE")
		fmt.Fprintln(stderr, "\nValidates a metric rule file (Foresight's or prometheus-adapter's); prints each error with its line and field; exit code 1 on errors.")
		fmt.Fprintln(stderr, "With --prometheus-url, a prometheus-adapter config's metrics are discovered and the rules serving them checked too.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := cli.ParsePFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want exactly one FILE, got %d arguments", errUsage, fs.NArg())
	}
	path := fs.Arg(0)
	imported, err := isImport(*format, path)
	if err != nil {
		return err
	}
	var f *config.File
	if imported {
		var warnings []string
		f, warnings, err = checkImport(ctx, path, policy, prom, *relist, stdout)
		for _, w := range warnings {
			fmt.Fprintln(stdout, "warning: "+w)
		}
		if err == nil && f == nil {
			return nil
		}
	} else {
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			f, err = config.ParsePolicy(data, path, policy)
		}
	}
	if err = checkRules(f, err, path, stdout); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d rules OK\n", path, len(f.Rules))
	if m := f.ResourceMetrics; m != nil {
		fmt.Fprintf(stdout, "  resourceMetrics: metrics.k8s.io pods and nodes, CPU and memory (window %s)\n", model.Duration(m.Window))
	}
	for _, r := range f.Rules {
		if r.API == config.APIObject {
			fmt.Fprintf(stdout, "  %s (%s %s)\n", r.Name, r.API, r.Resources.GroupResource())
		} else {
			fmt.Fprintf(stdout, "  %s (%s)\n", r.Name, r.API)
		}
		if c := r.Cost; c != nil {
			p := c.Params
			src := "OpenCost/Kubecost metrics"
			if len(c.StaticPrices) > 0 {
				src = fmt.Sprintf("%d static node-class prices", len(c.StaticPrices))
			}
			ref := "lowest price of the last " + model.Duration(c.ReferenceWindow).String()
			if p.ReferencePrice > 0 {
				ref = fmt.Sprintf("$%g/h", p.ReferencePrice)
			}
			fmt.Fprintf(stdout, "    cost-weighted (HPA target AverageValue 1): pods %s, capacity %g, u = clamp(%g * r^%g, %g, %g), reference %s, q %g; prices from %s, held %s then cost-blind\n",
				c.Pods, p.Capacity, p.TargetUtilization, p.Elasticity, p.MinUtilization, p.MaxUtilization, ref, p.InterruptionDiscount, src, model.Duration(c.PriceHold))
		}
		if q := r.Queue; q != nil {
			p := q.Params
			fmt.Fprintf(stdout, "    queue (HPA target AverageValue 1, minReplicas 0): %g items/s per worker, drain %s, wake %s ahead, 0 after %s idle\n",
				p.Throughput, model.Duration(p.DrainTime), model.Duration(p.WakeLead), model.Duration(p.CoolDown))
		}
		if n, e := len(r.Schedule), len(r.Events); n+e > 0 {
			fmt.Fprintf(stdout, "    schedule: %d windows, %d events\n", n, e)
		}
		if s := r.Shadow; s != nil {
			fmt.Fprintf(stdout, "    shadow: %s (served: %s), capacity %g, target %g, replicas %d-%d\n",
				strings.Join(s.Strategies, ", "), s.Served(&r), s.Capacity, s.Target, s.MinReplicas, s.MaxReplicas)
		}
	}
	return nil
}

// checkRules renders the rules of f, read from path with err, as serve does. On an
// error, reading's or rendering's, it prints each one (with its file, line and field)
// to w and returns errInvalidConfig.
//
// A prometheus-adapter file whose series Prometheus could not list is not
// invalid: that error is returned as it is.
func checkRules(f *config.File, err error, path string, w io.Writer) error {
	if errors.Is(err, promadapter.ErrDiscovery) {
		return err
	}
	if err == nil {
		_, err = serving.RulesFromConfig(f)
	}
	if err != nil {
		for _, e := range flattenErrors(err) {
			fmt.Fprintln(w, e.Error())
		}
		return fmt.Errorf("%w %s", errInvalidConfig, path)
	}
	return nil
}

// flattenErrors unwraps errors.Join trees into their leaves.
func flattenErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flattenErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// isImport reports whether the file at path is read as a prometheus-adapter
// configuration under format.
func isImport(format, path string) (bool, error) {
	switch format {
	case serving.FormatPrometheusAdapter:
		return true, nil
	case serving.FormatForesight:
		return false, nil
	case serving.FormatAuto, "":
		data, err := os.ReadFile(path)
		if err != nil {
			return false, err
		}
		return promadapter.Detect(data), nil
	default:
		return false, fmt.Errorf("%w: --config-format must be %s, %s or %s, got %q", errUsage, serving.FormatAuto, serving.FormatForesight, serving.FormatPrometheusAdapter, format)
	}
}

// checkImport checks a prometheus-adapter configuration; with a Prometheus URL it
// also discovers its metrics and returns the rules serving them (nil without one).
func checkImport(ctx context.Context, path string, policy config.Policy, prom source.PrometheusConfig, window time.Duration, stdout io.Writer) (*config.File, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := promadapter.ParsePolicy(data, path, policy)
	if err != nil {
		return nil, nil, err
	}
	if prom.Address == "" {
		fmt.Fprintf(stdout, "%s: prometheus-adapter config OK: %d rules, %d externalRules, %s; give --prometheus-url to discover the metrics the rules serve\n", path, len(cfg.Rules), len(cfg.ExternalRules), resourceRulesSummary(cfg))
		return nil, cfg.Warnings(), nil
	}
	f, warnings, err := importFile(ctx, path, data, policy, prom, window)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(stdout, "%s: prometheus-adapter config: %d rules, %d externalRules serve %d metrics; %s\n", path, len(cfg.Rules), len(cfg.ExternalRules), len(f.Rules), resourceRulesSummary(cfg))
	return f, warnings, nil
}

// resourceRulesSummary says whether cfg serves metrics.k8s.io, and with which window.
func resourceRulesSummary(cfg *promadapter.Config) string {
	rr := cfg.ResourceMetricsRules()
	if rr == nil {
		return "no resourceRules"
	}
	return fmt.Sprintf("resourceRules (metrics.k8s.io, window %s)", model.Duration(rr.Window))
}

// importFile discovers the metrics of a prometheus-adapter configuration from
// Prometheus and returns the Foresight rules serving them.
func importFile(ctx context.Context, path string, data []byte, policy config.Policy, prom source.PrometheusConfig, window time.Duration) (*config.File, []string, error) {
	src, err := source.NewPrometheus(prom, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	return promadapter.Import(ctx, data, path, policy, src, time.Now(), window)
}
