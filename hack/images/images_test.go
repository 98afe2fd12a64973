package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/foresight-dev/foresight/hack/images/internal/gobuild"
	"github.com/foresight-dev/foresight/hack/images/internal/ociimage"
	"github.com/foresight-dev/foresight/hack/images/internal/stamp"
)

// maxCompressedSize is the goal for each amd64 image.
const maxCompressedSize = 40 << 20

// TestImages builds every image twice from this commit and checks that the
// digests agree, then opens the first build: platforms, user, entrypoint,
// labels, every file, the binaries (static, stripped, right architecture),
// the amd64 binary's --version, the size, and a push to a registry on
// loopback. One test, so the four cross-compilations happen twice, not once
// per check (the Go build cache makes the second build a relink).
func TestImages(t *testing.T) {
	ctx := context.Background()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	st, err := stamp.Read(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	b := gobuild.Builder{Dir: root, Stamp: st}
	outA, outB := t.TempDir(), t.TempDir()
	var reportA bytes.Buffer
	if err := buildImages(ctx, b, outA, &reportA); err != nil {
		t.Fatal(err)
	}
	t.Logf("build:\n%s", reportA.String())
	if err := buildImages(ctx, b, outB, io.Discard); err != nil {
		t.Fatal(err)
	}

	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			idx, tag, err := ociimage.ReadLayout(filepath.Join(outA, c.name))
			if err != nil {
				t.Fatal(err)
			}
			again, _, err := ociimage.ReadLayout(filepath.Join(outB, c.name))
			if err != nil {
				t.Fatal(err)
			}
			if da, db := digest(t, idx), digest(t, again); da != db {
				t.Fatalf("not reproducible: two builds of commit %s gave index digests %s and %s", st.Commit, da, db)
			}
			if tag != st.Version {
				t.Errorf("layout tag %q, want the version %q", tag, st.Version)
			}
			checkIndex(t, idx, c.name, st)
		})
	}

	t.Run("push", func(t *testing.T) {
		// An in-memory registry on loopback, with no credentials to find.
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
		defer srv.Close()
		repoPrefix := strings.TrimPrefix(srv.URL, "http://") + "/foresight-dev"
		var out bytes.Buffer
		if code := run(ctx, []string{"push", "-registry", repoPrefix, "-in", outA}, &out, &out); code != 0 {
			t.Fatalf("push: exit %d\n%s", code, out.String())
		}
		for _, c := range commands {
			local, _, err := ociimage.ReadLayout(filepath.Join(outA, c.name))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.NewTag(repoPrefix + "/" + c.name + ":" + st.Version)
			if err != nil {
				t.Fatal(err)
			}
			pushed, err := remote.Index(ref)
			if err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
			if d := digest(t, local); digest(t, pushed) != d || !strings.Contains(out.String(), ref.String()+"@"+d) {
				t.Errorf("%s: pushed %s, layout %s; push printed:\n%s", ref, digest(t, pushed), d, out.String())
			}
		}
	})
}

func digest(t *testing.T, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func checkIndex(t *testing.T, idx v1.ImageIndex, cmd string, st stamp.Stamp) {
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s", m.MediaType)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":    cmd,
		"org.opencontainers.image.source":   "https://github.com/foresight-dev/foresight",
		"org.opencontainers.image.version":  st.Version,
		"org.opencontainers.image.revision": st.Commit,
		"org.opencontainers.image.created":  st.Time.Format("2006-01-02T15:04:05Z"),
	}
	if !maps.Equal(m.Annotations, wantLabels) {
		t.Errorf("index annotations %v, want %v", m.Annotations, wantLabels)
	}
	var plats []string
	for _, desc := range m.Manifests {
		p := desc.Platform
		plats = append(plats, p.OS+"/"+p.Architecture)
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, img, cmd, p, st, wantLabels)
	}
	if got := strings.Join(plats, " "); got != "linux/amd64 linux/arm64" {
		t.Errorf("platforms %q, want linux/amd64 linux/arm64", got)
	}
}

func checkImage(t *testing.T, img v1.Image, cmd string, p *v1.Platform, st stamp.Stamp, wantLabels map[string]string) {
	t.Helper()
	where := cmd + " " + p.Architecture
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("%s: manifest media type %s", where, mt)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	entry := "/usr/local/bin/" + cmd
	if cf.OS != p.OS || cf.Architecture != p.Architecture {
		t.Errorf("%s: config platform %s/%s", where, cf.OS, cf.Architecture)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("%s: user %q, want 65532:65532", where, cf.Config.User)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{entry}) || len(cf.Config.Cmd) != 0 {
		t.Errorf("%s: entrypoint %q cmd %q", where, cf.Config.Entrypoint, cf.Config.Cmd)
	}
	if !maps.Equal(cf.Config.Labels, wantLabels) {
		t.Errorf("%s: labels %v, want %v", where, cf.Config.Labels, wantLabels)
	}
	if !cf.Created.Equal(st.Time) {
		t.Errorf("%s: created %v, want the commit time %v", where, cf.Created.Time, st.Time)
	}

	files := extract(t, img)
	wantModes := map[string]int64{
		"etc/": 0o755, "etc/group": 0o644, "etc/passwd": 0o644,
		"etc/ssl/": 0o755, "etc/ssl/certs/": 0o755, "etc/ssl/certs/ca-certificates.crt": 0o644,
		"usr/": 0o755, "usr/local/": 0o755, "usr/local/bin/": 0o755, "usr/local/bin/" + cmd: 0o755,
	}
	if got, want := slices.Sorted(maps.Keys(files)), slices.Sorted(maps.Keys(wantModes)); !slices.Equal(got, want) {
		t.Errorf("%s: files\n%s\nwant exactly\n%s", where, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for path, f := range files {
		if f.hdr.Mode != wantModes[path] || f.hdr.Uid != 0 || f.hdr.Gid != 0 || !f.hdr.ModTime.Equal(st.Time) {
			t.Errorf("%s: %s mode %o uid %d gid %d mtime %v", where, path, f.hdr.Mode, f.hdr.Uid, f.hdr.Gid, f.hdr.ModTime)
		}
	}
	if pw := string(files["etc/passwd"].data); !strings.Contains(pw, "\nnonroot:x:65532:65532:") || strings.Contains(pw, "/bin/sh") {
		t.Errorf("%s: /etc/passwd\n%s", where, pw)
	}
	if n := bytes.Count(files["etc/ssl/certs/ca-certificates.crt"].data, []byte("-----BEGIN CERTIFICATE-----")); n < 100 {
		t.Errorf("%s: %d CA certificates", where, n)
	}

	bin := files[strings.TrimPrefix(entry, "/")].data
	checkELF(t, where, bin, p.Architecture)
	if p.Architecture == "amd64" {
		checkVersion(t, cmd, bin, st)
		size, err := ociimage.CompressedSize(img)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.1f MB compressed", where, float64(size)/1e6)
		if size > maxCompressedSize {
			t.Errorf("%s: %d bytes compressed, over the goal of %d", where, size, maxCompressedSize)
		}
	}
}

type file struct {
	hdr  *tar.Header
	data []byte
}

// extract lists the image's flattened file system, directories with a
// trailing slash.
func extract(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		path := strings.TrimPrefix(h.Name, "/")
		if h.Typeflag == tar.TypeDir && !strings.HasSuffix(path, "/") {
			path += "/"
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[path] = file{hdr: h, data: data}
	}
}

func checkELF(t *testing.T, where string, bin []byte, arch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s: binary: %v", where, err)
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want {
		t.Errorf("%s: ELF machine %v, want %v", where, f.Machine, want)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: dynamically linked (%v)", where, p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s: not stripped (has .symtab)", where)
	}
}

// checkVersion runs the image's amd64 binary with --version.
func checkVersion(t *testing.T, cmd string, bin []byte, st stamp.Stamp) {
	t.Helper()
	path := filepath.Join(t.TempDir(), cmd)
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", cmd, err, out)
	}
	want := fmt.Sprintf("%s %s\ncommit: %s\ncommit date: %s\ngo: ", cmd, st.Version, st.Commit, st.Time.Format("2006-01-02T15:04:05Z"))
	if !strings.HasPrefix(string(out), want) || !strings.HasSuffix(string(out), " linux/amd64\n") {
		t.Errorf("%s --version printed\n%s\nwant it to start with\n%s", cmd, out, want)
	}
}
