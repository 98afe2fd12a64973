// Package cli holds what the project's commands share when they read their
// arguments: one usage error and one way to parse a subcommand's flags.
package cli

import (
	"errors"
	"flag"
	"fmt"
)

// ErrUsage marks an error in a command's arguments; commands exit 2 on it.
var ErrUsage = errors.New("usage error")

// ParseFlags parses a subcommand's flags, which take no positional
// arguments. flag.ErrHelp is returned as it is; every other error wraps
// ErrUsage.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	return nil
}
