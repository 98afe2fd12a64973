package backtest

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseCSVAccepts(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []Sample
	}{
		{"header", "ts,value\n60,1.5\n120,2\n", []Sample{{60, 1.5}, {120, 2}}},
		{"no header", "60,1.5\n120,2\n", []Sample{{60, 1.5}, {120, 2}}},
		{"crlf, spaces, blank lines", "ts , value\r\n\r\n 60 , 1.5 \r\n120,2\r\n\n", []Sample{{60, 1.5}, {120, 2}}},
		{"gap and real zero", "0,3\n60,0\n240,4\n", []Sample{{0, 3}, {60, 0}, {240, 4}}},
		{"whole float timestamp", "1628640000.0,39.7\n", []Sample{{1628640000, 39.7}}},
		{"other header names", "timestamp,load\n5,1\n", []Sample{{5, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCSV(strings.NewReader(tc.in), "in.csv")
			if err != nil {
				t.Fatalf("ParseCSV: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("row %d: got %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseCSVErrorsNameLineAndField(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"bad value", "ts,value\n60,1\n120,abc\n", "in.csv:3: field value: \"abc\" is not a number"},
		{"bad ts", "ts,value\n60,1\nnoon,2\n", "in.csv:3: field ts: \"noon\" is not Unix seconds"},
		{"fractional ts", "60.5,1\n", "in.csv:1: field ts: \"60.5\" is not a whole number"},
		{"NaN value", "60,1\n120,NaN\n", "in.csv:2: field value: \"NaN\" is not finite"},
		{"Inf value", "60,1\n120,+Inf\n", "in.csv:2: field value: \"+Inf\" is not finite"},
		{"three fields", "60,1\n120,2,3\n", "in.csv:2: want 2 fields (ts,value), got 3"},
		{"one field", "60\n", "in.csv:1: want 2 fields"},
		{"not increasing", "60,1\n120,2\n120,3\n", "in.csv:3: field ts: 120 is not after the previous row's 120"},
		{"going back", "60,1\n30,2\n", "in.csv:2: field ts: 30 is not after"},
		{"header later", "60,1\nts,value\n", "in.csv:2: field ts: \"ts\" is not Unix seconds"},
		{"line number counts blank lines", "ts,value\n\n60,1\n\n120,x\n", "in.csv:5: field value"},
		{"empty", "ts,value\n", "in.csv: no data rows"},
		{"too long", "60," + strings.Repeat("1", 5000) + "\n", "in.csv:1: line longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCSV(strings.NewReader(tc.in), "in.csv")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestInferStep(t *testing.T) {
	s := []Sample{{0, 1}, {60, 1}, {120, 1}, {300, 1}, {360, 1}, {375, 1}}
	step, err := InferStep(s)
	if err != nil || step != time.Minute {
		t.Fatalf("step %v, %v; want 1m", step, err)
	}
	// A tie picks the smaller difference.
	step, err = InferStep([]Sample{{0, 1}, {15, 1}, {75, 1}})
	if err != nil || step != 15*time.Second {
		t.Fatalf("tie: step %v, %v; want 15s", step, err)
	}
	if _, err := InferStep([]Sample{{0, 1}}); err == nil {
		t.Fatal("one sample: no error")
	}
}

func TestWriteServedCSVRoundTrip(t *testing.T) {
	samples := []Sample{{60, 1}, {120, 2}, {180, 3}}
	served := []float64{1.25, 1e-7, 123456789.125}
	var buf bytes.Buffer
	if err := WriteServedCSV(&buf, samples, served); err != nil {
		t.Fatal(err)
	}
	want := "ts,value\n60,1.25\n120,1e-07\n180,1.23456789125e+08\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	back, err := ParseCSV(&buf, "served.csv")
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

// FuzzParseCSV checks that the parser never panics and that whatever it
// accepts is strictly time-ordered, finite, and survives a round trip.
func FuzzParseCSV(f *testing.F) {
	seeds := []string{
		"ts,value\n60,1.5\n120,2\n",
		"60,1\n120,2\n\n180,3\r\n",
		"ts,value\n60,NaN\n",
		"60,1\n60,2\n",
		"1628640000.0,39.7\n",
		"a,b,c\n",
		",\n",
		"ts,value\n-60,-1e308\n0,1e308\n",
		"9223372036854775807,1\n",
		"0x10,1\n",
		"60,1_000\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		samples, err := ParseCSV(strings.NewReader(in), "fuzz.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		values := make([]float64, len(samples))
		for i, s := range samples {
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
				t.Fatalf("row %d: non-finite %v accepted", i, s.Value)
			}
			if i > 0 && s.TS <= samples[i-1].TS {
				t.Fatalf("row %d: ts %d not after %d", i, s.TS, samples[i-1].TS)
			}
			values[i] = s.Value
		}
		var buf bytes.Buffer
		if err := WriteServedCSV(&buf, samples, values); err != nil {
			t.Fatal(err)
		}
		back, err := ParseCSV(&buf, "roundtrip.csv")
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if len(back) != len(samples) {
			t.Fatalf("round trip: %d rows, want %d", len(back), len(samples))
		}
		for i := range back {
			if back[i] != samples[i] {
				t.Fatalf("round trip row %d: %v, want %v", i, back[i], samples[i])
			}
		}
	})
}
