package cli

import (
	"errors"
	"flag"
	"io"
	"testing"
)

func TestParseFlags(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("out", "", "")
		return fs
	}
	if err := ParseFlags(newFS(), []string{"-out", "a"}); err != nil {
		t.Fatalf("valid flags: %v", err)
	}
	if err := ParseFlags(newFS(), []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: got %v, want flag.ErrHelp", err)
	}
	for _, args := range [][]string{{"-nope"}, {"-out", "a", "extra"}} {
		if err := ParseFlags(newFS(), args); !errors.Is(err, ErrUsage) {
			t.Fatalf("%q: got %v, want a usage error", args, err)
		}
	}
}
