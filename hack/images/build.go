package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/foresight-dev/foresight/hack/images/internal/gobuild"
	"github.com/foresight-dev/foresight/hack/images/internal/ociimage"
	"github.com/foresight-dev/foresight/hack/images/internal/stamp"
)

// commands are the binaries, each shipped as an image of the same name.
var commands = []struct{ name, pkg string }{
	{"foresight-adapter", "./adapter/cmd/foresight-adapter"},
	{"foresight-xds", "./sidecars/cmd/foresight-xds"},
}

// platforms are those of every image.
var platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

func binariesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	b, out, err := builderFlags(ctx, "binaries", "bin", "directory for the binaries", args, stderr)
	if err != nil {
		return err
	}
	for _, c := range commands {
		t := gobuild.Target{Package: c.pkg, OS: runtime.GOOS, Arch: runtime.GOARCH, Out: filepath.Join(out, c.name)}
		if err := b.Build(ctx, t); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s\n", t.Out, b.Stamp.Version)
	}
	return nil
}

func buildCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	b, out, err := builderFlags(ctx, "build", ".cache/images", "directory for the OCI layouts, one folder per image", args, stderr)
	if err != nil {
		return err
	}
	return buildImages(ctx, b, out, stdout)
}

// builderFlags parses the flags the building subcommands share (-out, whose
// default and meaning are the subcommand's, and -go) and returns a builder
// for the repository and the output directory.
func builderFlags(ctx context.Context, name, outDefault, outUsage string, args []string, stderr io.Writer) (gobuild.Builder, string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	out := fs.String("out", outDefault, outUsage)
	goCmd := fs.String("go", "go", "the go command")
	if err := parseFlags(fs, args, stderr); err != nil {
		return gobuild.Builder{}, "", err
	}
	b, err := newBuilder(ctx, *goCmd)
	return b, *out, err
}

func newBuilder(ctx context.Context, goCmd string) (gobuild.Builder, error) {
	root, err := os.Getwd()
	if err != nil {
		return gobuild.Builder{}, err
	}
	if _, err := os.Stat(filepath.Join(root, "adapter", "cmd", "foresight-adapter")); err != nil {
		return gobuild.Builder{}, fmt.Errorf("run from the repository's root: %w", err)
	}
	st, err := stamp.Read(ctx, root)
	if err != nil {
		return gobuild.Builder{}, err
	}
	return gobuild.Builder{Go: goCmd, Dir: root, Stamp: st}, nil
}

// buildImages builds every command for every platform and writes each
// image's OCI layout to out/<name>, printing digests and sizes.
func buildImages(ctx context.Context, b gobuild.Builder, out string, stdout io.Writer) error {
	binDir := filepath.Join(out, ".binaries")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	for _, c := range commands {
		spec := ociimage.Spec{Name: c.name, Version: b.Stamp.Version, Revision: b.Stamp.Commit, Created: b.Stamp.Time}
		for _, p := range platforms {
			t := gobuild.Target{Package: c.pkg, OS: p.OS, Arch: p.Architecture, Out: filepath.Join(binDir, c.name+"-"+p.OS+"-"+p.Architecture)}
			if err := b.Build(ctx, t); err != nil {
				return err
			}
			spec.Binaries = append(spec.Binaries, ociimage.Binary{OS: p.OS, Arch: p.Architecture, Path: t.Out})
		}
		idx, err := ociimage.Index(spec)
		if err != nil {
			return err
		}
		dir := filepath.Join(out, c.name)
		if err := ociimage.WriteLayout(dir, idx, b.Stamp.Version); err != nil {
			return fmt.Errorf("%s: write OCI layout %s: %w", c.name, dir, err)
		}
		if err := report(stdout, dir, c.name, b.Stamp.Version, idx); err != nil {
			return err
		}
	}
	return nil
}

func report(w io.Writer, dir, name, tag string, idx v1.ImageIndex) error {
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s:%s %s (OCI layout %s)\n", name, tag, d, dir)
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range m.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return err
		}
		size, err := ociimage.CompressedSize(img)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s/%s %s %.1f MB compressed\n", desc.Platform.OS, desc.Platform.Architecture, desc.Digest, float64(size)/1e6)
	}
	return nil
}

func pushCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	registry := fs.String("registry", "", "registry and path to push to, e.g. ghcr.io/foresight-dev (required)")
	in := fs.String("in", ".cache/images", "directory of the OCI layouts written by build")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *registry == "" {
		return fmt.Errorf("%w: -registry is required", errUsage)
	}
	for _, c := range commands {
		ref, err := ociimage.Push(ctx, filepath.Join(*in, c.name), *registry+"/"+c.name)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Fprintf(stdout, "pushed %s\n", ref)
	}
	return nil
}
