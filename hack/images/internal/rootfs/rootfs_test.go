package rootfs

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestTarListsDirectoriesFirstWithFixedOwnersAndTimes(t *testing.T) {
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	data, err := Tar([]File{
		{Path: "usr/local/bin/tool", Mode: 0o755, Data: []byte("ELF")},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte(passwd)},
	}, mtime)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name)
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(mtime.Truncate(time.Second)) {
			t.Errorf("%s: uid %d gid %d mtime %v", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		if strings.HasSuffix(h.Name, "/") != (h.Typeflag == tar.TypeDir) || (h.Typeflag == tar.TypeDir && h.Mode != 0o755) {
			t.Errorf("%s: type %c mode %o", h.Name, h.Typeflag, h.Mode)
		}
	}
	want := "etc/ etc/passwd usr/ usr/local/ usr/local/bin/ usr/local/bin/tool"
	if strings.Join(got, " ") != want {
		t.Fatalf("entries %q, want %q", strings.Join(got, " "), want)
	}
	again, err := Tar([]File{
		{Path: "etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Path: "usr/local/bin/tool", Mode: 0o755, Data: []byte("ELF")},
	}, mtime)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Fatal("the same files in another order gave another tarball")
	}
}

func TestTarRejectsBadPaths(t *testing.T) {
	for _, files := range [][]File{
		{{Path: "/etc/passwd"}},
		{{Path: "etc/../passwd"}},
		{{Path: ""}},
		{{Path: "etc/passwd"}, {Path: "etc/passwd"}},
		{{Path: "etc"}, {Path: "etc/passwd"}},
	} {
		if _, err := Tar(files, time.Unix(0, 0)); err == nil {
			t.Errorf("Tar(%+v) accepted", files)
		}
	}
}

func TestBaseFiles(t *testing.T) {
	files, err := BaseFiles()
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string][]byte{}
	for _, f := range files {
		byPath[f.Path] = f.Data
	}
	if !strings.Contains(string(byPath["etc/passwd"]), "\nnonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n") {
		t.Errorf("passwd lacks the nonroot user:\n%s", byPath["etc/passwd"])
	}
	if !strings.Contains(string(byPath["etc/group"]), "\nnonroot:x:65532:\n") {
		t.Errorf("group lacks the nonroot group:\n%s", byPath["etc/group"])
	}
	rest, n := byPath[CertFile], 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("certificate %d: %v", n, err)
		}
		if !c.IsCA {
			t.Errorf("certificate %q is not a CA", c.Subject)
		}
		n++
	}
	if len(bytes.TrimSpace(rest)) != 0 || n < 100 {
		t.Fatalf("CA bundle: %d certificates and %d bytes left over", n, len(rest))
	}
}
