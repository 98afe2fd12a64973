// Package stamp reads from git what a release build stamps into the
// binaries and images: the version, the commit and the commit's time.
package stamp

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/foresight-dev/foresight/internal/buildinfo"
)

// Stamp identifies the source a build is made from.
type Stamp struct {
	// Version is `git describe --tags --always --dirty`: the tag on a
	// tagged commit (v0.1.0), otherwise the tag, the commits since and the
	// short hash (v0.1.0-3-gabc1234), or only the short hash when there is
	// no tag; "-dirty" is appended when tracked files have changes.
	Version string
	// Commit is the full hash of HEAD.
	Commit string
	// Time is HEAD's commit time: the one timestamp of a reproducible
	// build (file times, image creation time, the binaries' date).
	Time time.Time
}

// Read reads the stamp of the git work tree at dir.
func Read(ctx context.Context, dir string) (Stamp, error) {
	version, err := git(ctx, dir, "describe", "--tags", "--always", "--dirty")
	if err != nil {
		return Stamp{}, err
	}
	commit, err := git(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return Stamp{}, err
	}
	ct, err := git(ctx, dir, "log", "-1", "--format=%ct", "HEAD")
	if err != nil {
		return Stamp{}, err
	}
	sec, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return Stamp{}, fmt.Errorf("git log in %s: commit time %q: %w", dir, ct, err)
	}
	return Stamp{Version: version, Commit: commit, Time: time.Unix(sec, 0).UTC()}, nil
}

// LinkerFlags returns the -X flags that stamp s into the binaries' buildinfo.
func (s Stamp) LinkerFlags() []string {
	return buildinfo.LinkerFlags(s.Version, s.Commit, s.Time.Format(time.RFC3339))
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}
