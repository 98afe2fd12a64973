package backtest

import (
	"bytes"
	"testing"

	"github.com/foresight-dev/foresight/adapter/trace"
)

func TestWriteServedCSVRoundTrip(t *testing.T) {
	samples := []Sample{{TS: 60, Value: 1}, {TS: 120, Value: 2}, {TS: 180, Value: 3}}
	served := []float64{1.25, 1e-7, 123456789.125}
	var buf bytes.Buffer
	if err := WriteServedCSV(&buf, samples, served); err != nil {
		t.Fatal(err)
	}
	want := "ts,value\n60,1.25\n120,1e-07\n180,1.23456789125e+08\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	back, err := trace.Parse(&buf, "served.csv")
	if err != nil {
		t.Fatal(err)
	}
	for i := range back {
		if back[i].TS != samples[i].TS || back[i].Value != served[i] {
			t.Fatalf("row %d: %v", i, back[i])
		}
	}
	if err := WriteServedCSV(&buf, samples, served[:2]); err == nil {
		t.Fatal("length mismatch: no error")
	}
}
