package trace

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseAccepts(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []Sample
	}{
		{"header", "ts,value\n60,1.5\n120,2\n", []Sample{{60, 1.5}, {120, 2}}},
		{"header then rows far apart", "ts,value\n60,1.5\n180,2\n", []Sample{{60, 1.5}, {180, 2}}},
		{"no header", "60,1.5\n120,2\n", []Sample{{60, 1.5}, {120, 2}}},
		{"crlf, spaces, blank lines", "ts , value\r\n\r\n 60 , 1.5 \r\n120,2\r\n\n", []Sample{{60, 1.5}, {120, 2}}},
		{"gap and real zero", "0,3\n60,0\n240,4\n", []Sample{{0, 3}, {60, 0}, {240, 4}}},
		{"whole float timestamp", "1628640000.0,39.7\n", []Sample{{1628640000, 39.7}}},
		{"other header names", "timestamp,load\n5,1\n", []Sample{{5, 1}}},
		{"last second of year 9999", "253402300799,1\n", []Sample{{253402300799, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.in), "in.csv")
			if err != nil {
				t.Fatalf("Parse: %v", err)
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

func TestParseErrorsNameLineAndField(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"bad value", "ts,value\n60,1\n120,abc\n", "in.csv:3: field value: \"abc\" is not a number"},
		{"bad ts", "ts,value\n60,1\nnoon,2\n", "in.csv:3: field ts: \"noon\" is not Unix seconds"},
		{"fractional ts", "60.5,1\n", "in.csv:1: field ts: \"60.5\" is not a whole number"},
		{"negative ts", "-60,1\n", "in.csv:1: field ts: \"-60\" is not a Unix time between 1970 and year 9999"},
		{"ts after year 9999", "253402300800,1\n", "in.csv:1: field ts: \"253402300800\" is not a Unix time"},
		{"NaN value", "60,1\n120,NaN\n", "in.csv:2: field value: \"NaN\" is not finite"},
		{"Inf value", "60,1\n120,+Inf\n", "in.csv:2: field value: \"+Inf\" is not finite"},
		{"negative value", "ts,value\n0,1\n60,-2\n", "in.csv:3: field value: \"-2\" is negative"},
		{"three fields", "60,1\n120,2,3\n", "in.csv:2: want 2 fields (ts,value), got 3"},
		{"one field", "60\n", "in.csv:1: want 2 fields"},
		{"semicolon", "ts,value\n1;2\n", "in.csv:2: want 2 fields (ts,value), got 1"},
		{"not increasing", "60,1\n120,2\n120,3\n", "in.csv:3: field ts: 120 is not after the previous row's 120"},
		{"going back", "60,1\n30,2\n", "in.csv:2: field ts: 30 is not after"},
		{"header later", "60,1\nts,value\n", "in.csv:2: field ts: \"ts\" is not Unix seconds"},
		{"header with a number", "ts,7\n", "in.csv:1: header has a non-name second field \"7\""},
		{"line number counts blank lines", "ts,value\n\n60,1\n\n120,x\n", "in.csv:5: field value"},
		{"empty", "", "in.csv: no data rows"},
		{"header only", "ts,value\n", "in.csv: no data rows"},
		{"too long", "60," + strings.Repeat("1", 5000) + "\n", "in.csv:1: line longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "in.csv")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestParseBoundsRows: a file with more rows than the limit is refused at
// the first row over it, without reading the rest.
func TestParseBoundsRows(t *testing.T) {
	in := "ts,value\n0,1\n60,1\n120,1\n180,1\n"
	if _, err := parseColumn(strings.NewReader(in), "in.csv", "value", func(float64) string { return "" }, 4); err != nil {
		t.Fatalf("4 rows at a limit of 4: %v", err)
	}
	_, err := parseColumn(strings.NewReader(in+"240,1\n"), "in.csv", "value", func(float64) string { return "" }, 4)
	if err == nil || !strings.Contains(err.Error(), "in.csv:6: more than 4 data rows") {
		t.Fatalf("5 rows at a limit of 4: %v", err)
	}
}

func TestReadFileNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(path, []byte("ts,value\n0,1\n60\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path+":3: want 2 fields") {
		t.Fatalf("error %v does not name %s:3", err, path)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "absent.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("absent file: %v, want a not-exist error", err)
	}
}

// TestRealTraces reads every trace of testdata/traces: each has rows, its
// step (one minute, 15 seconds or 5 minutes) and gaps kept as gaps
// (nasa-http-1995 has no rows from Jul 28 13:33 to Jul 31 23:59, 1995, EDT).
func TestRealTraces(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "traces")
	files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil || len(files) != 13 {
		t.Fatalf("traces in %s: %v, %v; want 13", dir, files, err)
	}
	for _, f := range files {
		samples, err := ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		step, err := InferStep(samples)
		if err != nil {
			t.Fatal(err)
		}
		want := time.Minute
		switch filepath.Base(f) {
		case "crane-input15.csv":
			want = 15 * time.Second
		case "flights-2001-ord-departures-5m.csv":
			want = 5 * time.Minute
		}
		if step != want {
			t.Errorf("%s: step %v, want %v", f, step, want)
		}
		if filepath.Base(f) != "nasa-http-1995.csv" {
			continue
		}
		edt := time.FixedZone("EDT", -4*3600) // the server's local time, as in the README
		gapFrom := time.Date(1995, 7, 28, 13, 33, 0, 0, edt).Unix()
		gapTo := time.Date(1995, 7, 31, 23, 59, 0, 0, edt).Unix()
		at := 1
		for i := 2; i < len(samples); i++ {
			if samples[i].TS-samples[i-1].TS > samples[at].TS-samples[at-1].TS {
				at = i
			}
		}
		if from, to := samples[at-1].TS, samples[at].TS; from > gapFrom || to < gapTo {
			t.Errorf("nasa: longest gap %s..%s, want the rows from Jul 28 13:33 to Jul 31 23:59 missing",
				time.Unix(from, 0).UTC(), time.Unix(to, 0).UTC())
		}
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

func TestWriteRoundTrip(t *testing.T) {
	samples := []Sample{{60, 1.25}, {120, 1e-7}, {180, 123456789.125}}
	var buf bytes.Buffer
	if err := Write(&buf, samples); err != nil {
		t.Fatal(err)
	}
	want := "ts,value\n60,1.25\n120,1e-07\n180,1.23456789125e+08\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	back, err := Parse(&buf, "written.csv")
	if err != nil {
		t.Fatal(err)
	}
	for i := range back {
		if back[i] != samples[i] {
			t.Fatalf("row %d: %v, want %v", i, back[i], samples[i])
		}
	}
}

// FuzzParse checks that the parser never panics, that every error names the
// input, and that whatever it accepts is strictly time-ordered, finite, not
// negative, and survives a round trip through Write.
func FuzzParse(f *testing.F) {
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
		"ts,value\n120,3\n0,1\n",
		"",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		samples, err := Parse(strings.NewReader(in), "fuzz.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv") && !strings.HasPrefix(err.Error(), "read fuzz.csv") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		for i, s := range samples {
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.Value < 0 {
				t.Fatalf("row %d: value %v accepted", i, s.Value)
			}
			if s.TS < 0 || s.TS > maxUnixSeconds {
				t.Fatalf("row %d: ts %d accepted", i, s.TS)
			}
			if i > 0 && s.TS <= samples[i-1].TS {
				t.Fatalf("row %d: ts %d not after %d", i, s.TS, samples[i-1].TS)
			}
		}
		var buf bytes.Buffer
		if err := Write(&buf, samples); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(&buf, "roundtrip.csv")
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
