package buildinfo

import (
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestLinkerFlagsStampABinary links a program with LinkerFlags and checks
// that it reports the stamped values, not the toolchain's fallback.
func TestLinkerFlagsStampABinary(t *testing.T) {
	args := []string{"run", "-ldflags", strings.Join(LinkerFlags("v1.2.3-4-gabcdef0-dirty", "abcdef0123456789", "2026-01-02T03:04:05Z"), " "), "./testdata/printinfo"}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	want := "printinfo v1.2.3-4-gabcdef0-dirty\ncommit: abcdef0123456789\ncommit date: 2026-01-02T03:04:05Z\ngo: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if string(out) != want {
		t.Fatalf("stamped binary printed\n%s\nwant\n%s", out, want)
	}
}

func TestLinkerFlagsLeaveOutEmptyValues(t *testing.T) {
	got := strings.Join(LinkerFlags("v1", "", ""), " ")
	if want := "-X " + Package + ".version=v1"; got != want {
		t.Fatalf("LinkerFlags = %q, want %q", got, want)
	}
}

func TestResolveFallsBackToTheToolchainRecord(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.99",
		Main:      debug.Module{Path: "github.com/foresight-dev/foresight", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"},
			{Key: "vcs.time", Value: "2026-03-04T05:06:07Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	cases := []struct {
		name                    string
		version, commit, date   string
		bi                      *debug.BuildInfo
		wantVersion, wantCommit string
		wantDate, wantGo        string
	}{
		{"stamped wins", "v1.0.0", "ffff", "2020-01-01T00:00:00Z", vcs, "v1.0.0", "ffff", "2020-01-01T00:00:00Z", "go1.99"},
		{"vcs settings", "", "", "", vcs, "devel-0123456789ab-dirty", "0123456789abcdef0123", "2026-03-04T05:06:07Z", "go1.99"},
		{"go install module@version", "", "", "", &debug.BuildInfo{GoVersion: "go1.98", Main: debug.Module{Version: "v0.3.0"}}, "v0.3.0", "", "", "go1.98"},
		{"no record", "", "", "", nil, "devel", "", "", runtime.Version()},
	}
	for _, tc := range cases {
		got := resolve(tc.version, tc.commit, tc.date, tc.bi)
		if got.Version != tc.wantVersion || got.Commit != tc.wantCommit || got.Date != tc.wantDate || got.GoVersion != tc.wantGo {
			t.Errorf("%s: got %+v, want version %q commit %q date %q go %q", tc.name, got, tc.wantVersion, tc.wantCommit, tc.wantDate, tc.wantGo)
		}
	}
}

func TestStringLeavesOutUnknownFields(t *testing.T) {
	got := Info{Version: "devel", GoVersion: "go1.26.0", Platform: "linux/arm64"}.String("foresight-xds")
	if want := "foresight-xds devel\ngo: go1.26.0 linux/arm64\n"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}
