package stamp

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid",
		"GIT_AUTHOR_DATE=2026-11-30T12:00:00Z", "GIT_COMMITTER_DATE=2026-11-30T12:00:00Z",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestReadFollowsTagsCommitsAndChanges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitIn(t, dir, "init", "-q")
	write("1")
	gitIn(t, dir, "add", "f")
	gitIn(t, dir, "commit", "-q", "-m", "one")
	gitIn(t, dir, "tag", "v0.1.0")
	head := gitIn(t, dir, "rev-parse", "HEAD")

	check := func(wantVersion string) {
		t.Helper()
		s, err := Read(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if s.Version != wantVersion || s.Commit != head || !s.Time.Equal(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("Read = %+v, want version %q commit %s", s, wantVersion, head)
		}
	}
	check("v0.1.0")
	write("2")
	check("v0.1.0-dirty")
	gitIn(t, dir, "commit", "-q", "-am", "two")
	head = gitIn(t, dir, "rev-parse", "HEAD")
	check("v0.1.0-1-g" + head[:7])

	s, _ := Read(ctx, dir)
	flags := strings.Join(s.LinkerFlags(), " ")
	if !strings.Contains(flags, ".commit="+head) || !strings.Contains(flags, ".date=2026-11-30T12:00:00Z") {
		t.Errorf("LinkerFlags = %q", flags)
	}
}

func TestReadOutsideGitNamesTheFolder(t *testing.T) {
	dir := t.TempDir()
	_, err := Read(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Read outside a work tree: %v", err)
	}
}
