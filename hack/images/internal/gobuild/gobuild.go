// Package gobuild compiles Foresight's commands reproducibly: static
// (CGO_ENABLED=0), without file paths (-trimpath), stripped, with an empty
// build ID and with the version stamped by the linker, so that one commit
// and one Go toolchain give byte-identical binaries on any machine.
package gobuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/foresight-dev/foresight/hack/images/internal/stamp"
)

// Target is one binary to build.
type Target struct {
	// Package is the main package, relative to the module root
	// ("./adapter/cmd/foresight-adapter").
	Package string
	// OS and Arch are GOOS and GOARCH.
	OS, Arch string
	// Out is the binary's path.
	Out string
}

// Builder runs the go command.
type Builder struct {
	// Go is the go command ("go" when empty).
	Go string
	// Dir is the module root.
	Dir string
	// Stamp is stamped into every binary.
	Stamp stamp.Stamp
}

// pinnedEnv are the variables that change a binary's bytes; Build sets them
// itself and drops the caller's values.
var pinnedEnv = []string{"GOFLAGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOAMD64", "GOARM64", "GOEXPERIMENT"}

// Build compiles t.
func (b Builder) Build(ctx context.Context, t Target) error {
	goCmd := b.Go
	if goCmd == "" {
		goCmd = "go"
	}
	ldflags := append([]string{"-s", "-w", "-buildid="}, b.Stamp.LinkerFlags()...)
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", strings.Join(ldflags, " "), "-o", t.Out, t.Package}
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = b.Dir
	cmd.Env = append(environWithout(pinnedEnv),
		"GOOS="+t.OS, "GOARCH="+t.Arch, "CGO_ENABLED=0",
		// The baseline instruction sets, whatever the build machine's defaults.
		"GOAMD64=v1", "GOARM64=v8.0")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s (GOOS=%s GOARCH=%s): %w\n%s", goCmd, strings.Join(args, " "), t.OS, t.Arch, err, stderr.String())
	}
	return nil
}

func environWithout(names []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
				break
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	return env
}
