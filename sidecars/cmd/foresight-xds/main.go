// Command foresight-xds is Foresight's xDS control plane for Envoy sidecars, the Envoy
// gateway and proxyless gRPC clients.
//
//	foresight-xds serve --policy FILE [--experiments FILE] [--kubeconfig FILE]
//	                    [--xds-address :18000] [--metrics-address :18001] [--prometheus-url URL]
//	                    [--tls-cert-file FILE --tls-private-key-file FILE [--client-ca-file FILE]]
//	foresight-xds check FILE... (policies, experiments and Gateway API manifests, told apart by kind)
//	foresight-xds canary pause|resume|advance|abort|promote|status NAME --token-file FILE [--admin-url URL]
//	foresight-xds bootstrap --node ID --service NAME [--metadata K=V]... [--gateway] [--xds-address HOST:PORT]
//	                        [--format envoy|envoy-json|grpc] [--xds-creds insecure|tls] [--policy FILE] [--out FILE]
//	foresight-xds version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/foresight-dev/foresight/internal/buildinfo"
	"github.com/foresight-dev/foresight/internal/cli"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  foresight-xds serve --policy FILE [--experiments FILE] [--kubeconfig FILE] [--xds-address :18000]
                      [--metrics-address :18001] [--prometheus-url URL] [--experiment-state FILE]
                      [--tls-cert-file FILE --tls-private-key-file FILE [--client-ca-file FILE]]
                      [--max-connections N] [--max-streams N] [--max-message-bytes N] [--max-subscribed-bytes N]
                      [--max-connections-per-address N] [--max-streams-per-address N]
                      [--state-dir DIR] [--admin-address ADDR --admin-token-file FILE]
  foresight-xds check [--gateway-controller-name NAME] FILE... (policy, experiment and Kubernetes manifest files)
  foresight-xds canary pause|resume|advance|abort|promote|status NAME --token-file FILE [--admin-url http://127.0.0.1:18002]
  foresight-xds bootstrap --node ID --service NAME [--metadata KEY=VALUE]... [--gateway] [--xds-address HOST:PORT]
                          [--format envoy|envoy-json|grpc] [--xds-creds insecure|tls] [--xds-ca-file FILE]
                          [--xds-cert-file FILE --xds-key-file FILE] [--listener-name-template T] [--policy FILE] [--out FILE]
  foresight-xds version     (also --version)
`

// run dispatches a subcommand and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = serveCmd(ctx, args[1:], stderr)
	case "check":
		err = checkCmd(args[1:], stdout)
	case "canary":
		err = canaryCmd(context.Background(), args[1:], stdout)
	case "bootstrap":
		err = bootstrapCmd(args[1:], stdout)
	case "version", "--version", "-version":
		if len(args) > 1 {
			err = cli.Usagef("version takes no arguments, got %q", args[1:])
			break
		}
		fmt.Fprint(stdout, buildinfo.Get().String("foresight-xds"))
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		if errors.Is(err, cli.ErrUsage) {
			fmt.Fprintf(stderr, "%v\n%s", err, usage)
			return 2
		}
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
