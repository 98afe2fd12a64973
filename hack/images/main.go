// Command images builds Foresight's binaries and container images
// reproducibly, with no container daemon:
//
//	go run ./hack/images binaries [-out bin]
//	go run ./hack/images build [-out .cache/images]
//	go run ./hack/images push -registry ghcr.io/foresight-dev [-in .cache/images]
//
// build writes one OCI layout per image (foresight-adapter, foresight-xds),
// each an index of linux/amd64 and linux/arm64 images tagged with
// `git describe --tags --always --dirty`; push sends those layouts to a
// registry with the credentials of `docker login` or a credential helper.
// Run it from the repository's root (make build, make images, make push-images).
//
// It lives in the root module: go-containerregistry changes the version of no
// module that the product's binaries use (checked with go get when it was
// added), and the builder then shares internal/buildinfo's linker flags
// instead of spelling them out a second time. The binaries do not import it.
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

	"github.com/foresight-dev/foresight/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  images binaries [-out DIR] [-go CMD]       the host platform's binaries, stamped, into DIR (bin)
  images build [-out DIR] [-go CMD]          OCI layouts of every image into DIR (.cache/images)
  images push -registry REGISTRY [-in DIR]   push the layouts in DIR to REGISTRY/<image>:<tag>
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "binaries":
		err = binariesCmd(ctx, args[1:], stdout, stderr)
	case "build":
		err = buildCmd(ctx, args[1:], stdout, stderr)
	case "push":
		err = pushCmd(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "images: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "images %s: %v\n%s", args[0], err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "images %s: %v\n", args[0], err)
		return 1
	}
}

var errUsage = cli.ErrUsage

func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	return cli.ParseFlags(fs, args)
}
