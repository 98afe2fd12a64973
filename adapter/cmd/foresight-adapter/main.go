// Command foresight-adapter is Foresight's adapter: it serves predicted
// metrics to the Kubernetes HPA and backtests forecasts offline. main.go only
// dispatches; each subcommand lives in its own file and is listed in
// subcommands below.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/foresight-dev/foresight/internal/cli"
)

// subcommand is one verb of foresight-adapter.
type subcommand struct {
	// name is the verb on the command line.
	name string
	// summary is the one-line description in the usage text.
	summary string
	// run runs the verb with the arguments after it. It returns an error
	// wrapping errUsage for bad arguments (exit code 2), flag.ErrHelp after
	// printing help (exit code 0), any other error for failures (exit code 1).
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// subcommands lists the verbs. To add one, write runXxx in its own file
// (xxx.go) with the signature of subcommand.run and add one line here.
func subcommands() []subcommand {
	return []subcommand{
		{"backtest", "replay a load trace through the forecaster and the HPA model and score it", runBacktest},
		{"serve", "serve predicted metrics to the HPA (external and custom metrics APIs)", runServe},
		{"demo", "run the adapter locally on generated load in accelerated time (no auth, loopback)", runDemo},
		{"check-config", "validate a metric rule file (Foresight's or prometheus-adapter's)", runCheckConfig},
		{"migrate", "print the Foresight rule file equivalent to a prometheus-adapter config", runMigrate},
		{"shadow-report", "summarise which scaling strategy would have been better over the last day and week", runShadowReport},
		{"version", "print the version, commit and Go version (also --version)", runVersion},
	}
}

// errUsage marks an error in the arguments (exit 2).
var errUsage = cli.ErrUsage

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// dispatch runs the subcommand named by args[0] and returns the exit code.
func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := subcommands()
	if len(args) == 0 {
		usage(stderr, cmds)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range cmds {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "foresight-adapter %s: %s\n", c.name, withoutPrefix(err, c.name))
			return 2
		default:
			fmt.Fprintf(stderr, "foresight-adapter %s: %s\n", c.name, withoutPrefix(err, c.name))
			return 1
		}
	}
	fmt.Fprintf(stderr, "foresight-adapter: unknown subcommand %q\n\n", args[0])
	usage(stderr, cmds)
	return 2
}

func usage(w io.Writer, cmds []subcommand) {
	fmt.Fprintln(w, "usage: foresight-adapter <subcommand> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "subcommands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'foresight-adapter <subcommand> -h' for its flags.")
}

// parseFlags parses a subcommand's flags, which take no positional arguments.
var parseFlags = cli.ParseFlags

// withoutPrefix is err's message without a leading "name: ", which the
// package of the same name (backtest) puts on its errors and the command's
// own prefix already says.
func withoutPrefix(err error, name string) string {
	return strings.TrimPrefix(err.Error(), name+": ")
}
