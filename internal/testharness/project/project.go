// Package project finds the project's root folder and the programs the tests,
// the e2e test and the benchmark command run: Prometheus and promtool (PATH
// first, then the pinned build in .cache/bin) and the Kubernetes binaries
// (built by hack/e2e/build.sh).
package project

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Module is the root module's path.
const Module = "github.com/foresight-dev/foresight"

// Root walks up from the working directory to the folder holding the root
// module's go.mod (not a nested module's) and returns it, or an error naming
// where the walk started.
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("project root: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && modulePath(data) == Module {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("project root: no go.mod of module %s in %s or above", Module, wd)
		}
	}
}

// modulePath returns the path of go.mod's module directive.
func modulePath(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// CacheBin returns <root>/.cache/bin, where the Makefile builds pinned tools.
func CacheBin() (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".cache", "bin"), nil
}

// howToGet says how to obtain each program the harness runs.
var howToGet = map[string]string{
	"prometheus":         "run `make prometheus` (builds the pinned Prometheus v3.16.0 from hack/prometheus into .cache/bin; `make test` does it) or install Debian's prometheus package",
	"prometheus-adapter": "run `make peer-adapter` (builds prometheus-adapter v0.12.0 from hack/peer-adapter into .cache/bin, a few minutes, once; `make differential` does it)",
	"victoria-metrics":   "run `make victoriametrics` (builds the pinned VictoriaMetrics from hack/victoriametrics into .cache/bin; `make test` does it)",
	"promtool":           "run `make prometheus` (builds the pinned promtool v3.16.0 from hack/prometheus into .cache/bin; `make test` does it) or install Debian's prometheus package",
}

// HowToGet says how to obtain the program name, for error and skip messages.
func HowToGet(name string) string {
	if h, ok := howToGet[name]; ok {
		return h
	}
	return "install " + name + " on PATH"
}

// ErrNotFound is returned (wrapped) by LookPath for a program found nowhere.
var ErrNotFound = errors.New("not found")

// LookPath returns the path of the program name: from PATH first, then from
// <root>/.cache/bin. The error names both places and how to get the program.
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	bin, err := CacheBin()
	if err != nil {
		return "", fmt.Errorf("%s: not on PATH, and %w: %s", name, err, HowToGet(name))
	}
	return lookIn(bin, name)
}

// lookIn returns bin/name if it is an executable file.
func lookIn(bin, name string) (string, error) {
	p := filepath.Join(bin, name)
	if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
		return p, nil
	}
	return "", fmt.Errorf("%s: %w on PATH nor in %s: %s", name, ErrNotFound, bin, HowToGet(name))
}

// KubeBinaries are the Kubernetes programs of the loopback cluster.
var KubeBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl"}

// KubeBinDirEnv names the variable that overrides the folder of the Kubernetes binaries.
const KubeBinDirEnv = "FORESIGHT_E2E_BIN"

// KubeBinDir returns the folder of the Kubernetes binaries: $FORESIGHT_E2E_BIN,
// or <root>/.cache/e2e-bin/current where hack/e2e/build.sh builds them. The
// error names the first binary missing and how to build them.
func KubeBinDir() (string, error) {
	dir := os.Getenv(KubeBinDirEnv)
	if dir == "" {
		root, err := Root()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, ".cache", "e2e-bin", "current")
	}
	for _, b := range KubeBinaries {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return dir, fmt.Errorf("binary %s %w in %s: run hack/e2e/build.sh (several minutes, once; `make e2e` does it) or set %s", b, ErrNotFound, dir, KubeBinDirEnv)
		}
	}
	return dir, nil
}
