package ociimage

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

func fakeSpec(t *testing.T, created time.Time) Spec {
	dir := t.TempDir()
	s := Spec{Name: "tool", Version: "v1.2.3", Revision: "abc", Created: created}
	for _, arch := range []string{"amd64", "arm64"} {
		p := filepath.Join(dir, arch)
		if err := os.WriteFile(p, []byte("binary for "+arch), 0o755); err != nil {
			t.Fatal(err)
		}
		s.Binaries = append(s.Binaries, Binary{OS: "linux", Arch: arch, Path: p})
	}
	return s
}

// TestIndexIsReproducible: the same spec gives the same digest; another
// creation time gives another (so the time is the only clock used).
func TestIndexIsReproducible(t *testing.T) {
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	digest := func(s Spec) string {
		idx, err := Index(s)
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	a, b := digest(fakeSpec(t, created)), digest(fakeSpec(t, created))
	if a != b {
		t.Fatalf("two builds of one spec: %s and %s", a, b)
	}
	if c := digest(fakeSpec(t, created.Add(time.Second))); c == a {
		t.Fatalf("another creation time gave the same digest %s", c)
	}
}

func TestLayoutRoundTrip(t *testing.T) {
	idx, err := Index(fakeSpec(t, time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tool")
	if err := os.MkdirAll(filepath.Join(dir, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayout(dir, idx, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !os.IsNotExist(err) {
		t.Errorf("WriteLayout left an old file: %v", err)
	}
	got, tag, err := ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if d, _ := got.Digest(); d != want || tag != "v1.2.3" {
		t.Fatalf("read back %s tag %q, want %s tag v1.2.3", d, tag, want)
	}
	if mt, _ := got.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("media type %s", mt)
	}
	if err := WriteLayout(dir, idx, "bad tag"); err == nil {
		t.Error("WriteLayout accepted the tag \"bad tag\"")
	}
	if _, _, err := ReadLayout(t.TempDir()); err == nil {
		t.Error("ReadLayout of an empty folder succeeded")
	}
}
