package backtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
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

// maxLineBytes bounds one CSV line; longer lines are malformed.
const maxLineBytes = 4096

// ParseCSV reads a load trace in CSV form `ts,value` (Unix seconds, then a
// number), one row per line. A header line is allowed as the first line.
// Blank lines are skipped. Timestamps must be whole seconds and strictly
// increasing; values must be finite. Errors name the source, line and field.
func ParseCSV(r io.Reader, name string) ([]Sample, error) {
	return parseTwoColumns(r, name, "value", func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "is not finite"
		}
		return ""
	})
}

// parseTwoColumns reads CSV rows `ts,<field>` with strictly increasing
// whole-second timestamps. check returns why a value is refused, or "".
func parseTwoColumns(r io.Reader, name, field string, check func(float64) string) ([]Sample, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxLineBytes)
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
			return nil, fmt.Errorf("%s:%d: want 2 fields (ts,%s), got %d", name, line, field, len(fields))
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
			return nil, fmt.Errorf("%s:%d: field %s: %s is not a number", name, line, field, quote(valText))
		}
		if why := check(v); why != "" {
			return nil, fmt.Errorf("%s:%d: field %s: %s %s", name, line, field, quote(valText), why)
		}
		if n := len(out); n > 0 && ts <= out[n-1].TS {
			return nil, fmt.Errorf("%s:%d: field ts: %d is not after the previous row's %d", name, line, ts, out[n-1].TS)
		}
		out = append(out, Sample{TS: ts, Value: v})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, maxLineBytes)
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
	if ts, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ts, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not Unix seconds", quote(s))
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("%s is not a whole number of Unix seconds", quote(s))
	}
	return int64(f), nil
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

// WriteServedCSV writes `ts,value` rows: for every sample, the value served at
// its timestamp. The format is stable, so equal inputs give equal bytes.
func WriteServedCSV(w io.Writer, samples []Sample, served []float64) error {
	if len(samples) != len(served) {
		return fmt.Errorf("served-out: %d samples but %d served values", len(samples), len(served))
	}
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString("ts,value\n"); err != nil {
		return fmt.Errorf("served-out: %w", err)
	}
	buf := make([]byte, 0, 64)
	for i, s := range samples {
		buf = strconv.AppendInt(buf[:0], s.TS, 10)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, served[i], 'g', -1, 64)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("served-out: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("served-out: %w", err)
	}
	return nil
}
