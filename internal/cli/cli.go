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
	if err := ParseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	return nil
}

// ParseArgs parses a subcommand's flags and leaves its positional arguments
// in fs.Args(). flag.ErrHelp is returned as it is; every other error wraps
// ErrUsage.
func ParseArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return nil
}

// Usagef returns an error wrapping ErrUsage with the formatted message.
func Usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}
