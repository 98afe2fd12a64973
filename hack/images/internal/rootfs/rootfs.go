// Package rootfs writes the files of Foresight's container images as layer
// tarballs with fixed owners, modes and times: the base (CA certificates,
// /etc/passwd and /etc/group with the non-root user) and a binary.
package rootfs

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The non-root user the images run as. 65532 is the "nonroot" user of the
// distroless images, so volume permissions carry over from those.
const (
	UID      = 65532
	GID      = 65532
	UserName = "nonroot"
)

// Paths inside the images.
const (
	CertFile = "etc/ssl/certs/ca-certificates.crt"
	// BinDir holds the binary; the entrypoint is BinDir/<name>.
	BinDir = "usr/local/bin"
)

// passwd has no login shell: /sbin/nologin is the conventional marker and
// does not exist in the image, which has no shell at all.
const passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
	"nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin\n"

const group = "root:x:0:\n" +
	"nonroot:x:65532:\n"

// File is one regular file of a layer.
type File struct {
	// Path is relative to the image's root, without a leading slash.
	Path string
	Mode int64
	Data []byte
}

// BaseFiles returns the base layer's files: the CA bundle, /etc/passwd and
// /etc/group.
//
// The certificates are the NSS root store as shipped by the Go module
// golang.org/x/crypto/x509roots/fallback (its version pinned in go.mod), not
// the build machine's /etc/ssl/certs: the same commit then gives the same
// layer on any machine, and the bundle changes only when go.mod does.
// Roots that NSS trusts only for certificates issued before a date are left
// out, since a PEM bundle cannot carry that constraint.
func BaseFiles() ([]File, error) {
	certs, err := caBundle()
	if err != nil {
		return nil, err
	}
	return []File{
		{Path: "etc/group", Mode: 0o644, Data: []byte(group)},
		{Path: "etc/passwd", Mode: 0o644, Data: []byte(passwd)},
		{Path: CertFile, Mode: 0o644, Data: certs},
	}, nil
}

func caBundle() ([]byte, error) {
	var buf bytes.Buffer
	n := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("rootfs: the fallback bundle has no unconstrained root certificate")
	}
	return buf.Bytes(), nil
}

// Tar writes files as an uncompressed layer tarball: every parent directory
// first (mode 0755), all owned by root, all timestamps set to mtime, in path
// order, so the same files give the same bytes.
func Tar(files []File, mtime time.Time) ([]byte, error) {
	mtime = mtime.UTC().Truncate(time.Second)
	byPath := map[string]File{}
	dirs := map[string]bool{}
	for _, f := range files {
		if f.Path == "" || strings.HasPrefix(f.Path, "/") || path.Clean(f.Path) != f.Path {
			return nil, fmt.Errorf("rootfs: file path %q is not a clean relative path", f.Path)
		}
		if _, dup := byPath[f.Path]; dup {
			return nil, fmt.Errorf("rootfs: file %q given twice", f.Path)
		}
		byPath[f.Path] = f
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	names := make([]string, 0, len(byPath)+len(dirs))
	for d := range dirs {
		if _, clash := byPath[d]; clash {
			return nil, fmt.Errorf("rootfs: %q is both a file and a directory", d)
		}
		names = append(names, d+"/")
	}
	for p := range byPath {
		names = append(names, p)
	}
	// Sorting "a/" before "a/b" puts each directory before its entries.
	slices.Sort(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		hdr := &tar.Header{Name: name, ModTime: mtime, Format: tar.FormatUSTAR}
		if strings.HasSuffix(name, "/") {
			hdr.Typeflag = tar.TypeDir
			hdr.Mode = 0o755
		} else {
			f := byPath[name]
			hdr.Typeflag = tar.TypeReg
			hdr.Mode = f.Mode
			hdr.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("rootfs: %s: %w", name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(byPath[name].Data); err != nil {
				return nil, fmt.Errorf("rootfs: %s: %w", name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
