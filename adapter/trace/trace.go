// Package trace reads and writes load traces: CSV rows `ts,value`, Unix
// seconds and the load of the step that ends there. It is the project's one
// reader of that format, for `foresight-adapter backtest` and `shadow-report`
// (files a user supplies), the tests, the dashboards preview and the e2e
// replay. Missing rows are gaps and stay gaps: the reader never fills them.
package trace

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sample is one row of a load trace: the load at Unix second TS (the load
// over the step that ends at TS).
type Sample struct {
	// TS is the Unix-second timestamp.
	TS int64
	// Value is the load.
	Value float64
}

const (
	// MaxLineBytes bounds one CSV line; longer lines are malformed.
	MaxLineBytes = 4096
	// MaxRows bounds the data rows of one file, so that a file a client
	// supplies holds at most MaxRows*16 bytes (80 MB) of samples: a year
	// of 15-second steps is 2.1 million rows.
	MaxRows = 5_000_000
	// maxUnixSeconds is the last second of year 9999.
	maxUnixSeconds = 253402300799
)

// ReadFile reads the load trace at path (see Parse); errors name the path.
func ReadFile(path string) ([]Sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open trace: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads a load trace in CSV form `ts,value` (Unix seconds, then a
// number), one row per line. A header line (two column names) is allowed as
// the first line; blank lines are skipped. Timestamps must be whole seconds
// from 0 to the end of year 9999, strictly increasing; values must be finite
// and not negative. Errors name the source, line and field.
func Parse(r io.Reader, name string) ([]Sample, error) {
	return ParseColumn(r, name, "value", func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "is not finite"
		}
		if v < 0 {
			return "is negative"
		}
		return ""
	})
}

// ParseColumn reads CSV rows `ts,<column>` as Parse does, with check deciding
// which values are accepted: it returns why a value is refused, or "".
// Errors name the source, line and field (ts or column).
func ParseColumn(r io.Reader, name, column string, check func(float64) string) ([]Sample, error) {
	return parseColumn(r, name, column, check, MaxRows)
}

// parseColumn is ParseColumn with at most maxRows data rows.
func parseColumn(r io.Reader, name, column string, check func(float64) string, maxRows int) ([]Sample, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), MaxLineBytes)
	var out []Sample
	line := 0
	sawContent := false
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		first := !sawContent
		sawContent = true
		fields := strings.Split(text, ",")
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want 2 fields (ts,%s), got %d", name, line, column, len(fields))
		}
		tsText, valText := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1])
		if first && isHeader(tsText) {
			if isHeader(valText) {
				continue
			}
			return nil, fmt.Errorf("%s:%d: header has a non-name second field %s", name, line, quote(valText))
		}
		ts, err := parseTS(tsText)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: field ts: %w", name, line, err)
		}
		v, err := strconv.ParseFloat(valText, 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: field %s: %s is not a number", name, line, column, quote(valText))
		}
		if why := check(v); why != "" {
			return nil, fmt.Errorf("%s:%d: field %s: %s %s", name, line, column, quote(valText), why)
		}
		if n := len(out); n > 0 && ts <= out[n-1].TS {
			return nil, fmt.Errorf("%s:%d: field ts: %d is not after the previous row's %d", name, line, ts, out[n-1].TS)
		}
		if len(out) == maxRows {
			return nil, fmt.Errorf("%s:%d: more than %d data rows", name, line, maxRows)
		}
		out = append(out, Sample{TS: ts, Value: v})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, MaxLineBytes)
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no data rows", name)
	}
	return out, nil
}

// quote quotes a field for an error message, shortened when long.
func quote(field string) string {
	const keep = 40
	if len(field) > keep {
		return strconv.Quote(field[:keep]) + "..."
	}
	return strconv.Quote(field)
}

// isHeader reports whether a field is a column name rather than a number.
func isHeader(field string) bool {
	if field == "" {
		return false
	}
	for _, r := range field {
		isName := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == ' ' || r >= '0' && r <= '9'
		if !isName {
			return false
		}
	}
	c := field[0]
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// parseTS parses Unix seconds, accepting a decimal form only when it is whole.
func parseTS(s string) (int64, error) {
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("%s is not Unix seconds", quote(s))
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, fmt.Errorf("%s is not a whole number of Unix seconds", quote(s))
		}
		ts = int64(f)
	}
	if ts < 0 || ts > maxUnixSeconds {
		return 0, fmt.Errorf("%s is not a Unix time between 1970 and year 9999", quote(s))
	}
	return ts, nil
}

// InferStep returns the most common positive difference between consecutive
// timestamps (the smaller one on a tie).
func InferStep(samples []Sample) (time.Duration, error) {
	if len(samples) < 2 {
		return 0, errors.New("need at least 2 rows to infer the step")
	}
	counts := map[int64]int{}
	for i := 1; i < len(samples); i++ {
		if d := samples[i].TS - samples[i-1].TS; d > 0 {
			counts[d]++
		}
	}
	diffs := make([]int64, 0, len(counts))
	for d := range counts {
		diffs = append(diffs, d)
	}
	sort.Slice(diffs, func(i, j int) bool {
		if counts[diffs[i]] != counts[diffs[j]] {
			return counts[diffs[i]] > counts[diffs[j]]
		}
		return diffs[i] < diffs[j]
	})
	return time.Duration(diffs[0]) * time.Second, nil
}

// Write writes samples as `ts,value` rows after a header. The format is
// stable, so equal samples give equal bytes, and Parse reads back exactly
// what was written.
func Write(w io.Writer, samples []Sample) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString("ts,value\n"); err != nil {
		return err
	}
	buf := make([]byte, 0, 64)
	for _, s := range samples {
		buf = strconv.AppendInt(buf[:0], s.TS, 10)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, s.Value, 'g', -1, 64)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}
