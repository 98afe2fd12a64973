package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/config/promadapter"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/internal/cli"
)

// runMigrate implements `foresight-adapter migrate --prometheus-url URL FILE`: it
// discovers the metrics of a prometheus-adapter configuration and prints the
// Foresight rule file that serves them (reactive; add a forecast model to the
// rules that should be predictive). Warnings about what is not served go to stderr.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("migrate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var policy config.Policy
	policy.AddFlags(fs)
	var prom source.PrometheusConfig
	prom.AddFlags(fs)
	relist := fs.Duration("metrics-relist-interval", 10*time.Minute, "how far back series are looked for")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: foresight-adapter migrate --prometheus-url URL FILE")
		fmt.Fprintln(stderr, "\nPrints the Foresight rule file equivalent to a prometheus-adapter config: its metrics are discovered")
		fmt.Fprintln(stderr, "from Prometheus' series, as prometheus-adapter does, and each gets one reactive rule.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := cli.ParsePFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || prom.Address == "" {
		fs.Usage()
		return fmt.Errorf("%w: want --prometheus-url and exactly one FILE", errUsage)
	}
	path := fs.Arg(0)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, warnings, err := importFile(ctx, path, data, policy, prom, *relist)
	if err = checkRules(f, err, path, stderr); err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	if len(f.Rules) == 0 && f.ResourceMetrics == nil {
		return fmt.Errorf("%s: no metric discovered: check the seriesQuery selectors against %s", path, prom.Address)
	}
	out, err := promadapter.NativeYAML(f, []string{
		fmt.Sprintf("Foresight rules migrated from the prometheus-adapter config %s", path),
		fmt.Sprintf("with the metrics its series queries found in %s at %s.", prom.Address, time.Now().UTC().Format(time.RFC3339)),
		"Each rule serves the reactive value, as prometheus-adapter does; set forecast.model (e.g. auto),",
		"horizon and history on the rules that should be predictive. See docs/migration.md.",
	})
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
