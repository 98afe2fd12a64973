package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeTestFile(t, good, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: requests_per_second
    query: sum by (namespace) (rate(http_requests_total{<<.LabelMatchers>>}[2m]))
    api: external
`), 0o600)
	writeTestFile(t, bad, []byte(`apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
  - name: requests_per_second
    query: sum by (namespace) (rate(http_requests_total{<<.LabelMatchers>>}[2m]))
    api: external
    forecast:
      horizon: 5m
      quantile: 1.5
`), 0o600)

	var out bytes.Buffer
	if err := runCheckConfig(context.Background(), []string{good}, &out, &out); err != nil {
		t.Fatalf("valid file: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "1 rules OK") {
		t.Errorf("valid file output: %s", out.String())
	}

	out.Reset()
	err := runCheckConfig(context.Background(), []string{bad}, &out, &out)
	if !errors.Is(err, errInvalidConfig) {
		t.Fatalf("invalid file: err = %v", err)
	}
	if !strings.Contains(out.String(), "bad.yaml:9") || !strings.Contains(out.String(), "quantile") {
		t.Errorf("error output lacks file:line and field: %q", out.String())
	}
	if code := dispatch(context.Background(), []string{"check-config", bad}, &out, &out); code != 1 {
		t.Errorf("exit code %d for an invalid file, want 1", code)
	}
	if code := dispatch(context.Background(), []string{"check-config"}, &out, &out); code != 2 {
		t.Errorf("exit code %d without FILE, want 2", code)
	}
}

func writeTestFile(t *testing.T, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}
