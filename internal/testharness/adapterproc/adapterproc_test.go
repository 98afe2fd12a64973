package adapterproc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/internal/testharness/pki"
)

func TestStartPassesTheSharedFlags(t *testing.T) {
	ca, err := pki.NewCA("test-ca")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A stand-in adapter that writes its arguments: what both kinds are given.
	bin := filepath.Join(dir, "adapter.sh")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/args-$1\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	for kind, first := range map[string]string{Foresight: "serve", Peer: "--config=c.yaml"} {
		a, err := Start(Options{Kind: kind, Name: kind, Bin: bin, Dir: filepath.Join(dir, kind), LogDir: dir,
			Config: "c.yaml", PrometheusURL: "http://127.0.0.1:9", Kubeconfig: "kc", CA: ca})
		if err != nil {
			t.Fatal(err)
		}
		<-a.Proc.Done()
		a.Proc.Stop(time.Second)
		out, err := os.ReadFile(filepath.Join(dir, "args-"+first))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		args := string(out)
		port := strings.TrimPrefix(a.URL, "https://127.0.0.1:")
		for _, want := range []string{"--config=c.yaml", "--prometheus-url=http://127.0.0.1:9", "--secure-port=" + port,
			"--lister-kubeconfig=kc", "--authentication-kubeconfig=kc", "--authorization-kubeconfig=kc",
			"--tls-cert-file=" + filepath.Join(dir, kind, "serving.crt")} {
			if !strings.Contains(args, want) {
				t.Errorf("%s: arguments %q lack %q", kind, args, want)
			}
		}
	}
	if _, err := Start(Options{Kind: "other", CA: ca, Dir: dir}); err == nil {
		t.Error("an unknown kind was started")
	}
	if _, err := Start(Options{Kind: Peer, Dir: dir}); err == nil {
		t.Error("started without a CA")
	}
}
