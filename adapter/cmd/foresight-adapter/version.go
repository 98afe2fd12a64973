package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/foresight-dev/foresight/internal/buildinfo"
)

// runVersion prints the build's version, commit, commit date and Go version.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprint(stdout, buildinfo.Get().String("foresight-adapter"))
	return err
}
