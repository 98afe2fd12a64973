package featuretests

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFeatures runs every feature policy of sidecars/translate/testdata through the real
// server and compares the discovery responses of every node group with its golden file.
func TestFeatures(t *testing.T) {
	files, err := filepath.Glob("../translate/testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no feature policies in sidecars/translate/testdata")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			p := loadPolicy(t, f)
			cp := startControlPlane(t, p)
			got := map[string]any{}
			for _, g := range p.Spec.NodeGroups {
				got[g.Name] = normalise(t, conversation(t, cp, p, g))
			}
			golden(t, name, got)
		})
	}
}
