// Package buildinfo tells which source a binary was built from: its version,
// commit, commit time and Go version. The release build stamps them with
// -ldflags -X (see LinkerFlags); an unstamped build (go build, go install,
// go run) falls back to what the Go toolchain recorded in the binary.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// The stamped values. They are variables, not constants, so that the linker
// can set them: -X github.com/foresight-dev/foresight/internal/buildinfo.version=v1.2.3
var (
	version string
	commit  string
	date    string
)

// Package is the import path whose variables LinkerFlags sets.
const Package = "github.com/foresight-dev/foresight/internal/buildinfo"

// LinkerFlags returns the -X linker flags that stamp version, commit and date
// (RFC 3339) into this package. Empty values are left out.
func LinkerFlags(version, commit, date string) []string {
	var flags []string
	for _, v := range [][2]string{{"version", version}, {"commit", commit}, {"date", date}} {
		if v[1] != "" {
			flags = append(flags, "-X", Package+"."+v[0]+"="+v[1])
		}
	}
	return flags
}

// Info describes a build.
type Info struct {
	// Version is `git describe --tags --always --dirty` at build time, the
	// module version for `go install module@version`, or "devel".
	Version string
	// Commit is the full commit hash, or "" when unknown.
	Commit string
	// Date is the commit's time in RFC 3339 (not the build's time, so that
	// builds are reproducible), or "" when unknown.
	Date string
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string
	// Platform is GOOS/GOARCH of the binary.
	Platform string
}

// Get returns the running binary's build information.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return resolve(version, commit, date, bi)
}

// resolve prefers the stamped values and fills what is missing from the
// toolchain's record bi (nil when there is none).
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi == nil {
		if info.Version == "" {
			info.Version = "devel"
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.time":
			if info.Date == "" {
				info.Date = s.Value
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if info.Version == "" {
		switch v := bi.Main.Version; {
		case v != "" && v != "(devel)":
			info.Version = v
		case info.Commit != "":
			info.Version = "devel-" + shortCommit(info.Commit)
			if modified {
				info.Version += "-dirty"
			}
		default:
			info.Version = "devel"
		}
	}
	return info
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// String is the --version text of the program name: one line per field,
// unknown fields left out.
func (i Info) String(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", name, i.Version)
	if i.Commit != "" {
		fmt.Fprintf(&b, "commit: %s\n", i.Commit)
	}
	if i.Date != "" {
		fmt.Fprintf(&b, "commit date: %s\n", i.Date)
	}
	fmt.Fprintf(&b, "go: %s %s\n", i.GoVersion, i.Platform)
	return b.String()
}
