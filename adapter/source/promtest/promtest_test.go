package promtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/source"
)

func TestLoadTraceAndShift(t *testing.T) {
	got := LoadTrace(t, "crane-input1.csv")
	// The first rows of crane-input1.csv: 1633478400,1.259180 and 1633478460,1.315290.
	if len(got) < 2 || got[0] != (source.Sample{T: 1633478400000, V: 1.259180}) || got[1] != (source.Sample{T: 1633478460000, V: 1.315290}) {
		t.Fatalf("loaded %v...", got[:min(len(got), 2)])
	}
	two := []source.Sample{{T: 60000, V: 1.5}, {T: 180000, V: 2}}
	end := time.Unix(1000, 500e6)
	sh := ShiftToEnd(two, end)
	if sh[1].T != 1000000 || sh[0].T != 880000 || sh[0].V != 1.5 {
		t.Errorf("shifted %v", sh)
	}
}

func TestWriteOpenMetrics(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.om")
	err := WriteOpenMetrics(p, []Series{
		{Name: "b", Labels: map[string]string{"z": "1", "a": `q"`}, Samples: []source.Sample{{T: 1500, V: 0.1}}},
		{Name: "a", Samples: []source.Sample{{T: 2000, V: 3}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := "# TYPE a gauge\na 3 2\n# TYPE b gauge\nb{a=\"q\\\"\",z=\"1\"} 0.1 1.5\n# EOF\n"
	if string(data) != want {
		t.Errorf("got\n%s\nwant\n%s", data, want)
	}
	if !strings.HasSuffix(string(data), "# EOF\n") {
		t.Error("no EOF marker")
	}
}
