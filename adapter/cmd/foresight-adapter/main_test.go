package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDispatchUsage(t *testing.T) {
	cases := []struct {
		args     []string
		code     int
		inStderr string
		inStdout string
	}{
		{nil, 2, "usage: foresight-adapter", ""},
		{[]string{"frobnicate"}, 2, `unknown subcommand "frobnicate"`, ""},
		{[]string{"help"}, 0, "", "backtest"},
		{[]string{"backtest"}, 2, "--input is required", ""},
		{[]string{"backtest", "--input", "x.csv", "--model", "magic"}, 2, `--model "magic" is not one of`, ""},
		{[]string{"backtest", "--bogus"}, 2, "flag provided but not defined", ""},
		{[]string{"backtest", "--input", "x.csv", "--quantile", "2"}, 2, "quantile 2", ""},
		{[]string{"backtest", "-h"}, 0, "-served-out FILE", ""},
		{[]string{"backtest", "--input", "/nonexistent/x.csv"}, 1, "open input", ""},
		{[]string{"backtest", "--input", zeroTrace(t)}, 1, "foresight-adapter backtest: the p99 load", ""},
		{[]string{"version"}, 0, "", "foresight-adapter devel"},
		{[]string{"--version"}, 0, "", "\ngo: go1."},
		{[]string{"-version"}, 0, "", "foresight-adapter devel"},
		{[]string{"version", "extra"}, 2, "unexpected arguments", ""},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		code := dispatch(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("%q: exit %d, want %d (stderr %q)", tc.args, code, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.inStderr) {
			t.Errorf("%q: stderr %q lacks %q", tc.args, stderr.String(), tc.inStderr)
		}
		if !strings.Contains(stdout.String(), tc.inStdout) {
			t.Errorf("%q: stdout %q lacks %q", tc.args, stdout.String(), tc.inStdout)
		}
	}
}

// zeroTrace writes a trace whose load is zero throughout (so the backtest
// refuses it: no pod capacity) and returns its path.
func zeroTrace(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zero.csv")
	if err := os.WriteFile(path, []byte("ts,value\n0,0\n60,0\n120,0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
