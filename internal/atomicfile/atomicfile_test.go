package atomicfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/foresight-dev/foresight/internal/atomicfile"
)

func TestJSONRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	got := map[string]int{"kept": 1}
	if err := atomicfile.ReadJSON(path, &got); err != nil || got["kept"] != 1 {
		t.Fatalf("missing file: %v %v", got, err)
	}
	if err := atomicfile.WriteJSON(path, map[string]int{"a": 2}); err != nil {
		t.Fatal(err)
	}
	got = nil
	if err := atomicfile.ReadJSON(path, &got); err != nil || got["a"] != 2 {
		t.Fatalf("read back: %v %v", got, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v %v", entries, err)
	}
	if err := os.WriteFile(path, []byte("{truncated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.ReadJSON(path, &got); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("corrupt file: %v", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "no", "such", "dir"), nil); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
