package promtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/foresight-dev/foresight/adapter/source"
)

func TestParseTraceAndShift(t *testing.T) {
	got, err := ParseTrace([]byte("ts,value\n60,1.5\n180,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (source.Sample{T: 60000, V: 1.5}) || got[1] != (source.Sample{T: 180000, V: 2}) {
		t.Fatalf("parsed %v", got)
	}
	end := time.Unix(1000, 500e6)
	sh := ShiftToEnd(got, end)
	if sh[1].T != 1000000 || sh[0].T != 880000 || sh[0].V != 1.5 {
		t.Errorf("shifted %v", sh)
	}
	for _, bad := range []string{"", "t,v\n1,2\n", "ts,value\n1;2\n", "ts,value\nx,2\n", "ts,value\n1,y\n", "ts,value\n"} {
		if _, err := ParseTrace([]byte(bad)); err == nil {
			t.Errorf("ParseTrace(%q) succeeded", bad)
		}
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
