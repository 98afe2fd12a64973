package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
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

func TestParsePFlags(t *testing.T) {
	newFS := func() *pflag.FlagSet {
		fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("out", "", "")
		return fs
	}
	fs := newFS()
	if err := ParsePFlags(fs, []string{"FILE", "--out", "a"}); err != nil || fs.NArg() != 1 || fs.Arg(0) != "FILE" {
		t.Fatalf("valid flags: %v, args %q", err, fs.Args())
	}
	for _, h := range []string{"-h", "--help"} {
		if err := ParsePFlags(newFS(), []string{h}); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s: got %v, want flag.ErrHelp", h, err)
		}
	}
	err := ParsePFlags(newFS(), []string{"--nope"})
	if !errors.Is(err, ErrUsage) || err.Error() != "usage error: unknown flag: --nope" {
		t.Fatalf("--nope: got %v, want a usage error naming the flag", err)
	}
}

func TestAddPFlags(t *testing.T) {
	var (
		url     string
		skip    bool
		headers map[string]string
		timeout time.Duration
	)
	add := func(p *pflag.FlagSet) {
		p.StringVar(&url, "url", "http://default", "the URL")
		p.BoolVar(&skip, "skip", false, "a switch")
		p.StringToStringVar(&headers, "header", nil, "a header (repeatable)")
		p.DurationVar(&timeout, "timeout", 0, "a timeout")
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	AddPFlags(fs, add)
	if url != "http://default" {
		t.Fatalf("default not kept: %q", url)
	}
	err := ParseFlags(fs, []string{"--url", "http://a", "-skip", "--header", "A=1", "--header", "B=2", "--timeout", "3s"})
	if err != nil {
		t.Fatal(err)
	}
	if url != "http://a" || !skip || len(headers) != 2 || headers["A"] != "1" || headers["B"] != "2" || timeout != 3*time.Second {
		t.Fatalf("got url %q skip %v headers %v timeout %v", url, skip, headers, timeout)
	}
	if err := ParseFlags(fs, []string{"--timeout", "soon"}); !errors.Is(err, ErrUsage) {
		t.Fatalf("bad duration: got %v, want a usage error", err)
	}
	out.Reset()
	fs.PrintDefaults()
	for _, want := range []string{"-url", "the URL", "(default http://default)", "-skip", "-header", "-timeout"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "panic") || strings.Contains(out.String(), "(default false)") || strings.Contains(out.String(), "(default 0s)") {
		t.Errorf("usage reports a panic or an empty default:\n%s", out.String())
	}
}
