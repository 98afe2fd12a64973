// Package ociimage assembles Foresight's multi-platform OCI images with
// go-containerregistry, writes them as OCI layouts and pushes those layouts
// to a registry. It needs no container daemon.
package ociimage

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/foresight-dev/foresight/hack/images/internal/rootfs"
)

// Source is the org.opencontainers.image.source label of every image.
const Source = "https://github.com/foresight-dev/foresight"

// RefNameAnnotation names the tag of the index in an OCI layout's index.json;
// Push pushes under that tag.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// Spec describes one image: one binary built for several platforms.
type Spec struct {
	// Name is the binary's name, the image's title and repository name.
	Name string
	// Version and Revision are the stamp's version and commit.
	Version, Revision string
	// Created is the time of every file and of the image (the commit time).
	Created time.Time
	// Binaries are the binary's builds, one per platform.
	Binaries []Binary
}

// Binary is one platform's build of the binary.
type Binary struct {
	OS, Arch string
	// Path is the binary's file on the build machine.
	Path string
}

// Labels returns the OCI labels of the image. There is no
// org.opencontainers.image.licenses: the repository has no licence file.
func (s Spec) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    s.Name,
		"org.opencontainers.image.source":   Source,
		"org.opencontainers.image.version":  s.Version,
		"org.opencontainers.image.revision": s.Revision,
		"org.opencontainers.image.created":  s.Created.UTC().Format(time.RFC3339),
	}
}

// Entrypoint is the path of the image's binary, its entrypoint.
func (s Spec) Entrypoint() string { return "/" + path.Join(rootfs.BinDir, s.Name) }

// Index assembles the image index of s: one image per binary, each the base
// layer plus a layer with the binary.
func Index(s Spec) (v1.ImageIndex, error) {
	base, err := rootfs.BaseFiles()
	if err != nil {
		return nil, err
	}
	baseLayer, err := layer(base, s.Created)
	if err != nil {
		return nil, fmt.Errorf("%s: base layer: %w", s.Name, err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, b := range s.Binaries {
		img, err := image(s, b, baseLayer)
		if err != nil {
			return nil, fmt.Errorf("%s %s/%s: %w", s.Name, b.OS, b.Arch, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: b.OS, Architecture: b.Arch}},
		})
	}
	return mutate.Annotations(idx, s.Labels()).(v1.ImageIndex), nil
}

func image(s Spec, b Binary, baseLayer v1.Layer) (v1.Image, error) {
	data, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, err
	}
	binLayer, err := layer([]rootfs.File{{Path: path.Join(rootfs.BinDir, s.Name), Mode: 0o755, Data: data}}, s.Created)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: s.Created.UTC()}
	cfg := &v1.ConfigFile{
		Architecture: b.Arch,
		OS:           b.OS,
		Created:      created,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			User:       fmt.Sprintf("%d:%d", rootfs.UID, rootfs.GID),
			Entrypoint: []string{s.Entrypoint()},
			WorkingDir: "/",
			Labels:     s.Labels(),
		},
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: baseLayer, History: v1.History{Created: created, CreatedBy: "hack/images: CA certificates, /etc/passwd, /etc/group"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: created, CreatedBy: "hack/images: " + s.Entrypoint()}},
	)
}

// layer makes a gzip-compressed OCI layer of files, compressed once.
func layer(files []rootfs.File, mtime time.Time) (v1.Layer, error) {
	tarBytes, err := rootfs.Tar(files, mtime)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(tarBytes)), nil },
		tarball.WithMediaType(types.OCILayer),
		tarball.WithCompressionLevel(gzip.BestCompression),
		tarball.WithCompressedCaching,
	)
}

// WriteLayout writes idx as a fresh OCI layout at dir (replacing what was
// there), its entry in index.json annotated with tag.
func WriteLayout(dir string, idx v1.ImageIndex, tag string) error {
	if _, err := name.NewTag("example.invalid/x:" + tag); err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefNameAnnotation: tag}))
}

// ReadLayout returns the image index in the OCI layout at dir that
// WriteLayout wrote, and its tag.
func ReadLayout(dir string) (v1.ImageIndex, string, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, "", err
	}
	top, err := p.ImageIndex()
	if err != nil {
		return nil, "", err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return nil, "", err
	}
	if len(m.Manifests) != 1 || m.Manifests[0].MediaType != types.OCIImageIndex {
		return nil, "", fmt.Errorf("%s: want one image index in index.json, found %d entries", dir, len(m.Manifests))
	}
	tag := m.Manifests[0].Annotations[RefNameAnnotation]
	if tag == "" {
		return nil, "", fmt.Errorf("%s: index.json has no %s annotation", dir, RefNameAnnotation)
	}
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		return nil, "", err
	}
	return idx, tag, nil
}

// Push pushes the OCI layout at dir to repo (REGISTRY/NAME) under the
// layout's tag, authenticating with the default keychain (docker login
// credentials, credential helpers). It returns the pushed reference with
// its digest.
func Push(ctx context.Context, dir, repo string) (string, error) {
	idx, tag, err := ReadLayout(dir)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", repo+":"+tag, err)
	}
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return ref.String() + "@" + d.String(), nil
}

// CompressedSize is what pulling img downloads: its manifest, config and
// compressed layers.
func CompressedSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	total := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, nil
}
