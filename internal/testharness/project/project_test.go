package project

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRootIsTheRootModuleNotANestedOne(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if modulePath(data) != Module {
		t.Fatalf("Root() = %s, whose go.mod is module %q", root, modulePath(data))
	}
	// From inside a nested module (hack/e2e), the walk goes on to the root.
	t.Chdir(filepath.Join(root, "hack", "e2e"))
	if got, err := Root(); err != nil || got != root {
		t.Fatalf("Root() from hack/e2e = %q, %v; want %s", got, err, root)
	}
}

func TestRootOutsideTheProjectIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if got, err := Root(); err == nil {
		t.Fatalf("Root() outside the project = %s, want an error", got)
	}
}

func TestModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"module github.com/foresight-dev/foresight\n\ngo 1.26\n": Module,
		"// c\nmodule \"github.com/foresight-dev/foresight\"\n":  Module,
		"module github.com/foresight-dev/foresight/hack/e2e\n":   Module + "/hack/e2e",
		"go 1.26\n": "",
	} {
		if got := modulePath([]byte(in)); got != want {
			t.Errorf("modulePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLookInTakesExecutablesOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := lookIn(dir, "tool"); err != nil || p != filepath.Join(dir, "tool") {
		t.Errorf("lookIn(tool) = %q, %v", p, err)
	}
	for _, name := range []string{"data", "absent"} {
		if _, err := lookIn(dir, name); !errors.Is(err, ErrNotFound) {
			t.Errorf("lookIn(%s) error %v, want ErrNotFound", name, err)
		}
	}
}

func TestLookPathFallsBackToCacheBin(t *testing.T) {
	// PATH without the program: the error names .cache/bin and how to get it,
	// unless the pinned build is there.
	t.Setenv("PATH", t.TempDir())
	bin, err := CacheBin()
	if err != nil {
		t.Fatal(err)
	}
	p, err := LookPath("promtool")
	if _, statErr := os.Stat(filepath.Join(bin, "promtool")); statErr == nil {
		if err != nil || p != filepath.Join(bin, "promtool") {
			t.Fatalf("LookPath(promtool) = %q, %v; want %s/promtool", p, err, bin)
		}
		return
	}
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookPath(promtool) with neither = %q, %v; want ErrNotFound", p, err)
	}
}

func TestKubeBinDirNamesTheMissingBinary(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(KubeBinDirEnv, dir)
	if _, err := KubeBinDir(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("KubeBinDir() on an empty folder: %v, want ErrNotFound", err)
	}
	for _, b := range KubeBinaries {
		if err := os.WriteFile(filepath.Join(dir, b), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := KubeBinDir(); err != nil || got != dir {
		t.Fatalf("KubeBinDir() = %q, %v; want %s", got, err, dir)
	}
}
