package charts

import (
	"os"
	"path/filepath"
	"testing"
)

// TestChartCRDsAreTheDeployedOnes checks that the xds chart's copies of the Foresight CRDs
// (files/crds, which a chart cannot read from outside its directory) are byte for byte the
// CRDs of deploy/xds/crds, and that none is missing on either side.
func TestChartCRDsAreTheDeployedOnes(t *testing.T) {
	src, err := filepath.Glob(filepath.Join("..", "..", "deploy", "xds", "crds", "foresight.dev_*.yaml"))
	if err != nil || len(src) == 0 {
		t.Fatalf("no CRDs in deploy/xds/crds: %v", err)
	}
	copies, err := filepath.Glob(filepath.Join(chartDir(xdsChart), "files", "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(copies) != len(src) {
		t.Errorf("the chart has %d CRDs, deploy/xds/crds %d", len(copies), len(src))
	}
	for _, f := range src {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chartDir(xdsChart), "files", "crds", filepath.Base(f)))
		if err != nil {
			t.Errorf("%s: not in the chart: %v", filepath.Base(f), err)
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%s: the chart's copy differs from deploy/xds/crds (copy it over)", filepath.Base(f))
		}
	}
}
