package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/foresight-dev/foresight/adapter/config"
	"github.com/foresight-dev/foresight/adapter/serving"
)

// errInvalidConfig marks a rule file that failed validation; its errors were printed.
var errInvalidConfig = errors.New("invalid rule file")

// runCheckConfig implements `foresight-adapter check-config FILE`: it validates
// a rule file and prints each error with its file, line and field. It also
// renders every rule's query as the adapter would, so a file that passes here
// loads in `serve`.
func runCheckConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: foresight-adapter check-config FILE")
		fmt.Fprintln(stderr, "\nValidates a metric rule file; prints each error with its line and field; exit code 1 on errors.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want exactly one FILE, got %d arguments", errUsage, fs.NArg())
	}
	path := fs.Arg(0)
	f, err := config.Load(path)
	if err == nil {
		_, err = serving.RulesFromConfig(f)
	}
	if err != nil {
		for _, e := range flattenErrors(err) {
			fmt.Fprintln(stdout, e.Error())
		}
		return fmt.Errorf("%w %s", errInvalidConfig, path)
	}
	fmt.Fprintf(stdout, "%s: %d rules OK\n", path, len(f.Rules))
	for _, r := range f.Rules {
		fmt.Fprintf(stdout, "  %s (%s)\n", r.Name, r.API)
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
