package trace

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
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
		{"header names with symbols", "Time (UTC),requests/s\n5,1\n", []Sample{{5, 1}}},
		{"quoted fields", "\"ts\",\"value\"\n\"60\" , \" 1.5\"\n120,\"2\"\n", []Sample{{60, 1.5}, {120, 2}}},
		{"doubled quotes in a header", "\"the \"\"ts\"\"\",value\n60,1\n", []Sample{{60, 1}}},
		{"last second of year 9999", "253402300799,1\n", []Sample{{253402300799, 1}}},
		{"fractional seconds rounded", "60.4,1\n120.5,2\n", []Sample{{60, 1}, {121, 2}}},
		{"milliseconds rounded", "1628640000123,1\n1628640060500,2\n1628640120000.5,3\n1628640180499.6,4\n", []Sample{{1628640000, 1}, {1628640061, 2}, {1628640120, 3}, {1628640180, 4}}},
		{"microseconds", "1628640000000000,1\n1628640059600000,2\n", []Sample{{1628640000, 1}, {1628640060, 2}}},
		{"nanoseconds", "1628640000000000000,1\n1628640060000000000,2\n", []Sample{{1628640000, 1}, {1628640060, 2}}},
		{"rfc3339 fractions rounded", "2021-08-11T00:00:00.0000000001Z,1\n2021-08-11 00:00:59.5Z,2\n", []Sample{{1628640000, 1}, {1628640060, 2}}},
		{"missing values as exporters write them", "ts,value\n60,1\n120,NaN\n180,null\n240,NA\n300,N/A\n360,None\n420,2\n", []Sample{{60, 1}, {420, 2}}},
		{"decimal comma in a tab file", "ts\tvalue\n60\t1,5\n120\t1,2345\n", []Sample{{60, 1.5}, {120, 1.2345}}},
		{"tab file with a comma in its header", "time\tvalue (req/s, sum)\n60\t1.5\n", []Sample{{60, 1.5}}},
		{"comment lines", "# exported by a tool\n#datatype,long\nts,value\n60,1\n# the end\n", []Sample{{60, 1}}},
		{"lone CR line endings", "ts,value\r60,1.5\r120,2\r", []Sample{{60, 1.5}, {120, 2}}},
		{"UTF-16 with a byte-order mark", "\xff\xfet\x00s\x00\t\x00v\x00\n\x006\x000\x00\t\x001\x00\n\x00", []Sample{{60, 1}}},
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
		{"negative ts", "-60,1\n", "in.csv:1: field ts: \"-60\" is not a Unix time between 1970 and year 9999"},
		{"ts after year 9999", "253402300800,1\n", "in.csv:1: field ts: \"253402300800\" is not a Unix time"},
		{"Inf value", "60,1\n120,+Inf\n", "in.csv:2: field value: \"+Inf\" is not finite"},
		{"negative value", "ts,value\n0,1\n60,-2\n", "in.csv:3: field value: \"-2\" is negative"},
		{"three fields", "60,1\n120,2,3\n", "in.csv:2: want 2 fields (ts,value) separated by commas, got 3"},
		{"one field", "60\n", "in.csv:1: want 2 fields"},
		{"semicolon in a comma file", "ts,value\n1;2\n", "in.csv:2: want 2 fields (ts,value) separated by commas, got 1"},
		{"comma in a tab file", "ts\tvalue\n60,1\n", "in.csv:2: want 2 fields (ts,value) separated by tabs, got 1"},
		{"quote not closed", "60,1\n\"120,2\n", "in.csv:2: field 1: quote opened at character 1 is not closed"},
		{"text after a closing quote", "60,\"1\"x\n", "in.csv:1: field 2: text after its closing quote at character 7"},
		{"quoted value with a comma", "60,\"1,5\"\n", "in.csv:1: field value: \"1,5\" is not a number"},
		{"thousands and decimals in a semicolon file", "60;1,5\n120;1.000,5\n", "in.csv:2: field value: \"1.000,5\" is not a number"},
		{"thousands or decimals in a tab file", "ts\tvalue\n60\t1,234\n", "in.csv:2: field value: \"1,234\" is not a number"},
		{"two commas in a semicolon file", "60;1,5\n120;1,000,5\n", "in.csv:2: field value: \"1,000,5\" is not a number"},
		{"not increasing", "60,1\n120,2\n120,3\n", "in.csv:3: field ts: 120 is not after the previous row's 120"},
		{"going back", "60,1\n30,2\n", "in.csv:2: field ts: 30 is not after"},
		{"header later", "60,1\nts,value\n", "in.csv:2: field ts: \"ts\" is not Unix seconds"},
		{"header with a number", "ts,7\n", "in.csv:1: field ts: \"ts\" is not Unix seconds (or milli-, micro- or nanoseconds) or an RFC 3339 time"},
		{"duplicate", "60,1\n60,2\n", "in.csv:2: field ts: 60 is not after the previous row's 60 (sort the rows by time, one row per timestamp)"},
		{"two rows in one second", "60.2,1\n60.4,2\n", `in.csv:2: field ts: "60.4" is not after the previous row's "60.2" (times are read to the nearest second: one row per second at most)`},
		{"gzip", "\x1f\x8b\x08\x00", "in.csv: is gzip-compressed, not CSV text: decompress it first (gunzip)"},
		{"zip", "PK\x03\x04rest", "in.csv: is a zip archive (a spreadsheet?), not CSV text: export it as CSV"},
		{"binary", "60,1\n\x00\x01", "in.csv: holds NUL bytes: not a text file"},
		{"json", "\ufeff {\"status\":\"success\"}", "in.csv: is JSON, not CSV rows of ts,value"},
		{"json array", "[[1628640000, \"1\"]]", "in.csv: is JSON"},
		{"line number counts blank lines", "ts,value\n\n60,1\n\n120,x\n", "in.csv:5: field value"},
		{"empty", "", "in.csv: no data rows"},
		{"header only", "ts,value\n", "in.csv: no data rows"},
		{"too long", "60," + strings.Repeat("1", MaxLineBytes) + "\n", "in.csv:1: line longer than"},
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

// TestParseTimestampForms: a file in Unix milliseconds or RFC 3339 (any
// offsets, zero fractions, CRLF) parses to the same samples as the file in
// Unix seconds.
func TestParseTimestampForms(t *testing.T) {
	want := []Sample{{1628640000, 1.5}, {1628640060, 2}, {1628640240, 0}, {1628726400, 7.25}}
	cases := []struct{ name, in string }{
		{"seconds", "ts,value\n1628640000,1.5\n1628640060,2\n1628640240,0\n1628726400,7.25\n"},
		{"milliseconds", "ts,value\n1628640000000,1.5\n1628640060000,2\n1628640240000,0\n1628726400000,7.25\n"},
		{"milliseconds, whole decimals, no header", "1628640000000.0,1.5\n1628640060000,2\n1628640240000.000,0\n1628726400000,7.25\n"},
		{"rfc3339 utc", "time,value\n2021-08-11T00:00:00Z,1.5\n2021-08-11T00:01:00Z,2\n2021-08-11T00:04:00Z,0\n2021-08-12T00:00:00Z,7.25\n"},
		{"rfc3339 offsets", "2021-08-11T02:00:00+02:00,1.5\n2021-08-10T19:01:00-05:00,2\n2021-08-11T05:34:00+05:30,0\n2021-08-12T00:00:00-00:00,7.25\n"},
		{"rfc3339 zero fractions", "2021-08-11T00:00:00.000Z,1.5\n2021-08-11T00:01:00.0000000000Z,2\n2021-08-11T00:04:00Z,0\n2021-08-12T01:00:00.0+01:00,7.25\n"},
		{"seconds crlf", "ts,value\r\n1628640000,1.5\r\n\r\n1628640060,2\r\n1628640240,0\r\n1628726400,7.25\r\n"},
		{"milliseconds crlf", "ts,value\r\n1628640000000,1.5\r\n1628640060000,2\r\n\r\n1628640240000,0\r\n1628726400000,7.25"},
		{"seconds after a byte-order mark", "\ufeffts,value\r\n1628640000,1.5\r\n1628640060,2\r\n1628640240,0\r\n1628726400,7.25\r\n"},
		{"rfc3339 after a byte-order mark, no header", "\ufeff2021-08-11T00:00:00Z,1.5\n2021-08-11T00:01:00Z,2\n2021-08-11T00:04:00Z,0\n2021-08-12T00:00:00Z,7.25\n"},
		{"rfc3339 crlf", "ts,value\r\n2021-08-11T00:00:00Z,1.5\r\n2021-08-11T00:01:00Z,2\r\n2021-08-11T00:04:00Z,0\r\n2021-08-12T00:00:00Z,7.25\r\n"},
		{"rfc3339 with a space, lower case, no seconds", "2021-08-11 02:00+02:00,1.5\n2021-08-11t00:01:00z,2\n2021-08-11T00:04Z,0\n2021-08-12 00:00:00.000Z,7.25\n"},
		{"without offset, quoted, as pandas writes", "\"ts\",\"value\"\n\"2021-08-11 00:00:00\",\"1.5\"\n\"2021-08-11 00:01:00\",\"2\"\n2021-08-11T00:04,0\n2021-08-12 00:00:00.000,7.25\n"},
		{"tab separated", "ts\tvalue\n1628640000\t1.5\n1628640060\t2\n1628640240\t0\n1628726400\t7.25\n"},
		{"semicolon separated, quoted", "\"ts\";\"value\"\n\"1628640000\";1.5\n1628640060;\"2\"\n1628640240;0\n1628726400;7.25\n"},
		{"semicolon separated, decimal commas, no header", "1628640000;1,5\n1628640060;2\n1628640240;\"0,0\"\n1628726400;7,25\n"},
		{"semicolon separated, decimal commas, spreadsheet times", "\ufeffZeit;Wert\r\n2021-08-11 00:00:00;1,5\r\n2021-08-11 00:01:00;2\r\n2021-08-11 00:04:00;0\r\n2021-08-12 00:00:00;7,25\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.in), "in.csv")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(got) != len(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("row %d: got %v, want %v", i, got[i], want[i])
				}
			}
		})
	}
}

// TestParseTimestampFormOfFirstRow: the first data row decides the form. A
// number up to the last second of year 9999 is seconds; above it, a
// multiple of 1000 or a 13-digit number is milliseconds.
func TestParseTimestampFormOfFirstRow(t *testing.T) {
	cases := []struct {
		name, in string
		want     int64
	}{
		{"last second of year 9999", "253402300799,1\n", 253402300799},
		{"first whole millisecond second above it", "253402301000,1\n", 253402301},
		{"1995 in milliseconds", "807235200000,1\n", 807235200},
		{"last second of year 9999 in milliseconds", "253402300799000,1\n", 253402300799},
		{"rfc3339 epoch", "1970-01-01T00:00:00Z,1\n", 0},
		{"rfc3339 end of year 9999", "9999-12-31T23:59:59Z,1\n", 253402300799},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.in), "in.csv")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(got) != 1 || got[0].TS != tc.want {
				t.Fatalf("got %v, want ts %d", got, tc.want)
			}
		})
	}
}

// TestParseTimestampFormErrors: mixed forms, milliseconds or fractions that
// are not whole seconds, and malformed RFC 3339 are refused naming the
// line, the field and what is wrong; the whole message is checked.
func TestParseTimestampFormErrors(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"milliseconds in a seconds file", "ts,value\n1628640000,1\n1628640060000,2\n",
			`in.csv:3: field ts: "1628640060000" is Unix milliseconds, but the first timestamp (line 2) is Unix seconds`},
		{"seconds in a milliseconds file", "1628640000000,1\n\n1628640060,2\n",
			`in.csv:3: field ts: "1628640060" is Unix seconds, but the first timestamp (line 1) is Unix milliseconds`},
		{"rfc3339 in a seconds file", "1628640000,1\n1628640060,1\n2021-08-11T00:02:00Z,2\n",
			`in.csv:3: field ts: "2021-08-11T00:02:00Z" is RFC 3339, but the first timestamp (line 1) is Unix seconds`},
		{"rfc3339 in a milliseconds file", "1628640000000,1\n2021-08-11T00:01:00Z,2\n",
			`in.csv:2: field ts: "2021-08-11T00:01:00Z" is RFC 3339, but the first timestamp (line 1) is Unix milliseconds`},
		{"seconds in an rfc3339 file", "ts,value\r\n2021-08-11T00:00:00Z,1\r\n1628640060,2\r\n",
			`in.csv:3: field ts: "1628640060" is Unix seconds, but the first timestamp (line 2) is RFC 3339`},
		{"milliseconds in an rfc3339 file", "2021-08-11T00:00:00Z,1\n1628640060000,2\n",
			`in.csv:2: field ts: "1628640060000" is Unix milliseconds, but the first timestamp (line 1) is RFC 3339`},
		{"microseconds in a milliseconds file", "1628640000000,1\n253402300800000,2\n",
			`in.csv:2: field ts: "253402300800000" is Unix microseconds, but the first timestamp (line 1) is Unix milliseconds`},
		{"nanoseconds past 2262", "99223372036854775808,1\n",
			`in.csv:1: field ts: "99223372036854775808" is not a Unix time between 1970 and year 9999`},
		{"milliseconds not a number", "1628640000000,1\nsoon,2\n",
			`in.csv:2: field ts: "soon" is not Unix milliseconds`},
		{"milliseconds going back", "1628640060000,1\n1628640000000,2\n",
			`in.csv:2: field ts: "1628640000000" is not after the previous row's "1628640060000" (sort the rows by time, one row per timestamp)`},
		{"rfc3339 without offset", "2021-08-11T00:00:00Z,1\n2021-08-11T00:01:00,2\n",
			`in.csv:2: field ts: "2021-08-11T00:01:00" is a date and time without offset, but the first timestamp (line 1) is RFC 3339`},
		{"offset in a file without", "2021-08-11 00:00:00,1\n2021-08-11 00:01:00Z,2\n",
			`in.csv:2: field ts: "2021-08-11 00:01:00Z" is RFC 3339, but the first timestamp (line 1) is a date and time without offset`},
		{"rfc3339 with a slash", "2021-08-11/00:00:00Z,1\n",
			`in.csv:1: field ts: "2021-08-11/00:00:00Z" is not an RFC 3339 time like 2021-08-11T00:00:00Z: want "T" or a space at character 11`},
		{"local time repeated when clocks go back", "2021-11-07 01:30,1\n2021-11-07 01:00,2\n",
			`in.csv:2: field ts: "2021-11-07 01:00" is not after the previous row's "2021-11-07 01:30" (local times repeat an hour when clocks go back: write UTC or an offset)`},
		{"date only", "2021-08-11,1\n",
			`in.csv:1: field ts: "2021-08-11" is not an RFC 3339 time like 2021-08-11T00:00:00Z: too short`},
		{"rfc3339 one-digit hour", "2021-08-11T0:00:00Z,1\n",
			`in.csv:1: field ts: "2021-08-11T0:00:00Z" is not an RFC 3339 time like 2021-08-11T00:00:00Z: want a digit at character 13`},
		{"rfc3339 zone name", "2021-08-11T00:00:00 UTC,1\n",
			`in.csv:1: field ts: "2021-08-11T00:00:00 UTC" is not an RFC 3339 time like 2021-08-11T00:00:00Z: offset " UTC" is not Z, +hh:mm or -hh:mm`},
		{"rfc3339 offset out of range", "2021-08-11T00:00:00+24:00,1\n",
			`in.csv:1: field ts: "2021-08-11T00:00:00+24:00" is not an RFC 3339 time like 2021-08-11T00:00:00Z: offset out of range`},
		{"rfc3339 day out of range", "2021-02-30T00:00:00Z,1\n",
			`in.csv:1: field ts: "2021-02-30T00:00:00Z" is not a valid RFC 3339 time: day out of range`},
		{"rfc3339 before 1970", "1969-12-31T23:59:59Z,1\n",
			`in.csv:1: field ts: "1969-12-31T23:59:59Z" is not a Unix time between 1970 and year 9999`},
		{"rfc3339 after year 9999 by its offset", "9999-12-31T23:59:59-01:00,1\n",
			`in.csv:1: field ts: "9999-12-31T23:59:59-01:00" is not a Unix time between 1970 and year 9999`},
		{"rfc3339 same instant twice", "2021-08-11T00:00:00Z,1\n2021-08-11T02:00:00+02:00,2\n",
			`in.csv:2: field ts: "2021-08-11T02:00:00+02:00" is not after the previous row's "2021-08-11T00:00:00Z" (sort the rows by time, one row per timestamp)`},
		{"first timestamp in no form", "ts,value\n12:00,1\n",
			`in.csv:2: field ts: "12:00" is not Unix seconds (or milli-, micro- or nanoseconds) or an RFC 3339 time like 2021-08-11T00:00:00Z`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.in), "in.csv")
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestParseFieldPicksAColumn: in a file of several series side by side (a
// Grafana panel's or pandas' export), ParseField reads the column the header
// names, an empty cell a missing sample, and Parse the column headed value.
func TestParseFieldPicksAColumn(t *testing.T) {
	grafana := "\"Time\",\"{instance=\"\"a:9100\"\"}\",\"{instance=\"\"b:9100\"\"}\"\r\n" +
		"2021-08-11 00:00:00,1.5,10\r\n2021-08-11 00:01:00,,11\r\n2021-08-11 00:02:00,2,\r\n2021-08-11 00:04:00,0,13\r\n"
	cases := []struct {
		name, in, field string
		want            []Sample
	}{
		{"first of two series, a gap", grafana, `{instance="a:9100"}`,
			[]Sample{{1628640000, 1.5}, {1628640120, 2}, {1628640240, 0}}},
		{"second of two series", grafana, `{instance="b:9100"}`,
			[]Sample{{1628640000, 10}, {1628640060, 11}, {1628640240, 13}}},
		{"two columns, the value named", "time,requests\n60,1\n120,2\n", "requests", []Sample{{60, 1}, {120, 2}}},
		{"semicolons, decimal commas", "Zeit;cpu;mem\n60;0,5;7\n120;;8\n180;1,25;9\n", "cpu", []Sample{{60, 0.5}, {180, 1.25}}},
		{"tabs, the time named anything", "minute\tx\ty\n60\t1\t2\n120\t3\t4\n", "y", []Sample{{60, 2}, {120, 4}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseField(strings.NewReader(tc.in), "in.csv", tc.field)
			if err != nil {
				t.Fatalf("ParseField: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	got, err := Parse(strings.NewReader("ts,other,value\n60,9,1\n120,9,\n180,9,3\n"), "in.csv")
	if err != nil || !slices.Equal(got, []Sample{{60, 1}, {180, 3}}) {
		t.Fatalf("Parse of a file with a value column: %v, %v", got, err)
	}
}

// TestParseEmptyValueIsAGap: in a file of two columns too (a one-series
// export of pandas or Grafana), an empty value is a missing sample; its
// row's time is still read and must still be in order.
func TestParseEmptyValueIsAGap(t *testing.T) {
	for _, in := range []string{"ts,value\n60,1\n120,\n180,3\n", "60,1\n120,\"\"\n180,3\n", "60;1,5\n120;\n180;3\n"} {
		got, err := Parse(strings.NewReader(in), "in.csv")
		want := []Sample{{60, 1}, {180, 3}}
		if strings.Contains(in, ";") {
			want[0].Value = 1.5
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"60,1\n120,\n90,3\n", "in.csv:3: field ts: 90 is not after the previous row's 120"},
		{"60,1\n60,\n", "in.csv:2: field ts: 60 is not after the previous row's 60"},
		{"60,1\nsoon,\n", "in.csv:2: field ts:"},
		{"ts,value\n60,\n120,\n", "in.csv: no data rows"},
	} {
		if _, err := Parse(strings.NewReader(tc.in), "in.csv"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q): error %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestParseFieldErrors: a column that is not there, a file without a header
// and a row of another width are refused, naming the line and what is there.
func TestParseFieldErrors(t *testing.T) {
	cases := []struct {
		name, in, field, want string
	}{
		{"no such column", "time,a,b\n60,1,2\n", "c", `in.csv:1: no column named "c" after the time's: the header has "a", "b"`},
		{"the time's column", "time,a,b\n60,1,2\n", "time", `in.csv:1: no column named "time" after the time's`},
		{"two columns, another name", "time,requests\n60,1\n", "errors", `in.csv:1: no column named "errors" after the time's: the header has "requests"`},
		{"no header", "60,1,2\n120,3,4\n", "a", `in.csv:1: want a header naming the columns, to find "a" in, got "60,1,2"`},
		{"a row of another width", "time,a,b\n60,1,2\n120,3\n", "a", "in.csv:3: want 3 fields separated by commas, as the header, got 2"},
		{"a bad cell", "time,a,b\n60,1,2\n120,x,4\n", "a", `in.csv:3: field a: "x" is not a number`},
		{"an empty column", "time,a,b\n60,,2\n120,,4\n", "a", "in.csv: no data rows"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseField(strings.NewReader(tc.in), "in.csv", tc.field)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	for _, in := range []string{"60,1,2\n", "ts,a,b\n60,1,2\n"} {
		_, err := Parse(strings.NewReader(in), "in.csv")
		if err == nil || !strings.Contains(err.Error(), "in.csv:1:") {
			t.Fatalf("Parse of %q: %v, want an error naming line 1", in, err)
		}
	}
}

// TestParseBoundsRows: a file with more rows than the limit is refused at
// the first row over it, without reading the rest.
func TestParseBoundsRows(t *testing.T) {
	in := "ts,value\n0,1\n60,1\n120,1\n180,1\n"
	if _, err := parseFields(strings.NewReader(in), "in.csv", columns{label: "value"}, func(float64) string { return "" }, 4); err != nil {
		t.Fatalf("4 rows at a limit of 4: %v", err)
	}
	_, err := parseFields(strings.NewReader(in+"240,1\n"), "in.csv", columns{label: "value"}, func(float64) string { return "" }, 4)
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
	if err != nil || len(files) != 20 {
		t.Fatalf("traces in %s: %v, %v; want 20", dir, files, err)
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
		"ts,value\r\n1628640000000,1\r\n1628640060000,2\r\n",
		"1628640000000.0,1\n1628640060500,2\n",
		"253402301000,1\n253402302000,1\n",
		"1628640000,1\n1628640060000,2\n",
		"time,value\n2021-08-11T00:00:00Z,1\n2021-08-11T02:01:00+02:00,2\n",
		"2021-08-11T00:00:00.000Z,1\n2021-08-11T00:01:00.5-05:30,2\n",
		"2021-08-11T00:00:00Z,1\n1628640060,2\n",
		"9999-12-31T23:59:59-01:00,1\n",
		"2021-08-11 00:00:00,1\n",
		"\"ts\";\"value\"\n\"2021-08-11 00:00\";\"1\"\n",
		"60\t\"1\"\"\"\n",
		"\"60,1\n",
		"60;1,5\n120;\"2,25\"\n",
		"ts,a,value\n60,1,2\n120,,\n180,3,\n",
		"Zeit;value;b\n60;1,5;\n",
		"\x1f\x8b\x08",
		"\xff\xfe6\x000\x00,\x001\x00\r\x00",
		"ts,value\r60,1\r\r120,2",
		"1628640000000000000,1\n1628640060000000,2\n",
		"time\tv (a, b)\n60\t1,5\n120\tNaN\n",
		" [1]",
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
		sameSamples(t, "round trip", buf.String(), samples)
		onGridKeepsEveryRow(t, samples)
		// The same samples in the other forms read back equal. Milliseconds
		// are recognised when the first is above the last second of year
		// 9999, that is from 12 January 1978.
		var rfc, utc, ms strings.Builder
		for _, s := range samples {
			fmt.Fprintf(&rfc, "%s,%v\r\n", time.Unix(s.TS, 0).In(time.FixedZone("", -int(s.TS%47)*900)).Format(time.RFC3339), s.Value)
			fmt.Fprintf(&utc, "\"%s\"\t\"%v\"\n", time.Unix(s.TS, 0).UTC().Format(time.DateTime), s.Value)
			fmt.Fprintf(&ms, "%d,%v\n", s.TS*1000, s.Value)
		}
		sameSamples(t, "rfc3339", rfc.String(), samples)
		sameSamples(t, "without offset", utc.String(), samples)
		if samples[0].TS*1000 > maxUnixSeconds {
			sameSamples(t, "milliseconds", ms.String(), samples)
		}
	})
}

// sameSamples parses in and checks that it reads as want.
func sameSamples(t *testing.T, what, in string, want []Sample) {
	t.Helper()
	got, err := Parse(strings.NewReader(in), what+".csv")
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s row %d: %v, want %v", what, i, got[i], want[i])
		}
	}
}

// FuzzParseField checks that picking a column never panics, that errors name
// the input, and that whatever it accepts is strictly time-ordered, finite,
// not negative, and survives a round trip through Write.
func FuzzParseField(f *testing.F) {
	f.Add("time,a,b\n60,1,2\n120,,4\n180,5,\n", "a")
	f.Add("\"Time\",\"{job=\"\"x\"\"}\"\n2021-08-11 00:00:00,1\n", `{job="x"}`)
	f.Add("Zeit;a;b\n60;1,5;2\n", "b")
	f.Add("60,1,2\n", "a")
	f.Add("t,a,a\n60,1,2\n", "a")
	f.Fuzz(func(t *testing.T, in, field string) {
		samples, err := ParseField(strings.NewReader(in), "fuzz.csv", field)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.csv") && !strings.HasPrefix(err.Error(), "read fuzz.csv") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, samples); err != nil {
			t.Fatal(err)
		}
		sameSamples(t, "round trip", buf.String(), samples)
		onGridKeepsEveryRow(t, samples)
		for i, s := range samples {
			if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || s.Value < 0 || (i > 0 && s.TS <= samples[i-1].TS) {
				t.Fatalf("row %d: %v accepted", i, s)
			}
		}
	})
}

// onGridKeepsEveryRow checks samples on the grid of their inferred step: every row kept, in
// order, each moved by at most a quarter step.
func onGridKeepsEveryRow(t *testing.T, samples []Sample) {
	t.Helper()
	step, err := InferStep(samples)
	if err != nil {
		return
	}
	if step < time.Second {
		t.Fatalf("step %v", step)
	}
	grid, _, largest := OnGrid(samples, step)
	quarter := int64(step/time.Second) / 4
	if len(grid) != len(samples) || largest > time.Duration(quarter)*time.Second {
		t.Fatalf("OnGrid: %d rows of %d, largest move %v", len(grid), len(samples), largest)
	}
	for i := range grid {
		if i > 0 && grid[i].TS <= grid[i-1].TS || abs(grid[i].TS-samples[i].TS) > quarter || grid[i].Value != samples[i].Value {
			t.Fatalf("OnGrid row %d: %v from %v", i, grid[i], samples[i])
		}
	}
}

// TestInferStepOfJitteredRows: rows stamped a second or two early or late give the step
// they were meant at, whichever difference is the most common.
func TestInferStepOfJitteredRows(t *testing.T) {
	alternating := []Sample{{0, 1}, {61, 1}, {120, 1}, {181, 1}, {240, 1}, {301, 1}, {360, 1}}
	jittered := []Sample{{0, 1}, {59, 1}, {121, 1}, {180, 1}, {242, 1}, {300, 1}, {359, 1}, {480, 1}}
	fifteen := []Sample{{0, 1}, {16, 1}, {30, 1}, {44, 1}, {60, 1}, {75, 1}}
	// A missing row of a short step (twice the step) does not count.
	twoWithGaps := []Sample{{0, 1}, {2, 1}, {4, 1}, {8, 1}, {10, 1}, {12, 1}, {16, 1}, {18, 1}, {20, 1}, {24, 1}}
	oneWithGaps := []Sample{{0, 1}, {1, 1}, {3, 1}, {4, 1}, {6, 1}, {7, 1}, {9, 1}}
	for name, c := range map[string]struct {
		s    []Sample
		want time.Duration
	}{"alternating": {alternating, time.Minute}, "jittered with a gap": {jittered, time.Minute}, "15 s": {fifteen, 15 * time.Second},
		"2 s with gaps": {twoWithGaps, 2 * time.Second}, "1 s with gaps": {oneWithGaps, time.Second}} {
		if step, err := InferStep(c.s); err != nil || step != c.want {
			t.Errorf("%s: step %v, %v; want %v", name, step, err, c.want)
		}
	}
}

// TestOnGrid moves rows within a quarter step onto the grid of their run, whose phase is
// their mean (the grid starts again where the phase changes); a row whose grid point
// another row holds stays where it is, so no row is dropped; a series already on its grid
// is left as it is.
func TestOnGrid(t *testing.T) {
	in := []Sample{{0, 1}, {61, 2}, {119, 3}, {121, 4}, {240, 5}, {270, 6}, {331, 7}, {389, 8}}
	got, moved, largest := OnGrid(in, time.Minute)
	want := []Sample{{0, 1}, {60, 2}, {120, 3}, {121, 4}, {240, 5}, {270, 6}, {330, 7}, {390, 8}}
	if !slices.Equal(got, want) || moved != 4 || largest != time.Second {
		t.Errorf("OnGrid = %v, %d moved, largest %v; want %v, 4, 1s", got, moved, largest, want)
	}
	if in[1].TS != 61 {
		t.Error("OnGrid changed its input")
	}
	// Two regular runs of different phases stay as they are.
	var runs []Sample
	for i := range 10 {
		runs = append(runs, Sample{int64(i) * 60, 1})
	}
	for i := range 10 {
		runs = append(runs, Sample{630 + int64(i)*60, 1})
	}
	if got, moved, _ := OnGrid(runs, time.Minute); &got[0] != &runs[0] || moved != 0 {
		t.Errorf("two regular runs: %d moved; want none", moved)
	}
	regular := []Sample{{0, 1}, {60, 1}, {180, 1}}
	if got, moved, _ := OnGrid(regular, time.Minute); &got[0] != &regular[0] || moved != 0 {
		t.Errorf("a regular series: %v, %d moved; want itself", got, moved)
	}
}
