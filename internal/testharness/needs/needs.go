// Package needs is what a test does when a program it needs is missing. In
// CI (CI=true) that is a failure: CI must run every test. Elsewhere the test
// is skipped with a message naming what is missing and the command that
// provides it.
package needs

import (
	"os"
	"strconv"
	"testing"

	"github.com/foresight-dev/foresight/internal/testharness/project"
)

// InCI reports whether the tests run in CI: CI is set to a true value
// (`true`, `1`), as .ci/run and the common CI services do.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// Missing ends the test because what it needs is missing: a failure in CI, a
// skip elsewhere. how says how to get it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if InCI() {
		t.Fatalf("missing %s (CI=true runs every test): %s", what, how)
	}
	t.Skipf("skipped, missing %s: %s", what, how)
}

// Program returns the path of the program name (PATH first, then .cache/bin),
// or ends the test as Missing says.
func Program(t testing.TB, name string) string {
	t.Helper()
	p, err := project.LookPath(name)
	if err != nil {
		Missing(t, "program "+name, err.Error())
	}
	return p
}

// KubeBinDir returns the folder of the Kubernetes binaries (etcd,
// kube-apiserver, kube-controller-manager, kubectl), or ends the test as
// Missing says.
func KubeBinDir(t testing.TB) string {
	t.Helper()
	dir, err := project.KubeBinDir()
	if err != nil {
		Missing(t, "the Kubernetes binaries", err.Error())
	}
	return dir
}

// Root returns the project's root folder, or fails the test: a test runs
// inside the project, so there is nothing to skip for.
func Root(t testing.TB) string {
	t.Helper()
	root, err := project.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
