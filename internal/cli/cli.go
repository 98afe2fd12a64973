// Package cli holds what the project's commands share when they read their
// arguments: one usage error and one way to parse a subcommand's flags.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"slices"

	"github.com/spf13/pflag"
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

// ParsePFlags is ParseArgs for a pflag flag set (GNU-style flags): its
// positional arguments stay in fs.Args(), pflag.ErrHelp is returned as
// flag.ErrHelp, and every other error wraps ErrUsage.
func ParsePFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return nil
}

// Usagef returns an error wrapping ErrUsage with the formatted message.
func Usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// AddPFlags registers on fs (Go's flag package) the flags that add registers
// on a pflag flag set, so a command parsed with package flag takes flags
// defined for pflag (a package's AddFlags) under the same names, values and
// usage. A boolean stays a switch (-name or -name=false).
func AddPFlags(fs *flag.FlagSet, add func(*pflag.FlagSet)) {
	pfs := pflag.NewFlagSet(fs.Name(), pflag.ContinueOnError)
	add(pfs)
	pfs.VisitAll(func(f *pflag.Flag) {
		fs.Var(pflagValue{f.Value}, f.Name, f.Usage)
		if slices.Contains([]string{"", "false", "0", "0s", "[]"}, f.DefValue) {
			// An empty default is not printed as "(default ...)".
			fs.Lookup(f.Name).DefValue = ""
		}
	})
}

// pflagValue is a pflag value as a flag.Value. Its zero value prints as "",
// so that flag.PrintDefaults can tell defaults apart without calling a nil
// pflag value.
type pflagValue struct{ v pflag.Value }

func (p pflagValue) String() string {
	if p.v == nil {
		return ""
	}
	return p.v.String()
}

func (p pflagValue) Set(s string) error { return p.v.Set(s) }

// IsBoolFlag makes a pflag boolean a switch in package flag too.
func (p pflagValue) IsBoolFlag() bool {
	b, ok := p.v.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
