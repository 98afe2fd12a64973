// Package trace reads and writes load traces: CSV rows `ts,value`, the time
// and the load of the step that ends there. It is the project's one reader of
// that format, for `foresight-adapter backtest` and `shadow-report` (files a
// user supplies), the tests, the dashboards preview and the e2e replay. The
// time is Unix seconds (or milli-, micro- or nanoseconds) or RFC 3339, one form
// per file (see Parse); samples and written traces are always Unix seconds.
// Missing rows are gaps and stay gaps: the reader never fills them.
package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/foresight-dev/foresight/internal/clip"
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
	// MaxLineBytes bounds one CSV line; longer lines are malformed. It
	// leaves room for the header of a wide export (a Grafana panel of many
	// series names each by its labels).
	MaxLineBytes = 64 << 10
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

// Parse reads a load trace in CSV form `ts,value`, one row per line. The
// first line decides the field separator: a tab when it holds one, else a
// semicolon when it splits that line in two, else a comma, or a semicolon
// when the line holds no comma but one. A field may be enclosed in double
// quotes. The first line may be a header (fields that are not numbers or
// times); a file of more than two columns needs one, and then the time is its
// first column and the value the column headed `value` (ParseField picks
// another). An empty value, or NaN, null, NA, N/A or None, is a missing
// sample (a gap), but its row's time is read and ordered as any other. Blank
// lines and comments (lines starting with #) are skipped; lines may end in LF,
// CRLF or a lone CR; the file may be UTF-8 (with or without a byte-order mark)
// or UTF-16 with one. A gzip or zip file, a binary one or JSON is refused,
// saying so. Values must be finite and
// not negative; in a file separated by semicolons or tabs a decimal comma is
// read as a point (1,5).
// Timestamps are read to the nearest second and must be strictly increasing,
// from 1970 to the end of year 9999, every row in the form of the first data
// row:
//   - Unix seconds: a number up to 253402300799, the last second of year
//     9999 (1628640000, or a decimal such as 1628640000.25);
//   - Unix milliseconds: a larger number that is a multiple of 1000 or has
//     13 digits or more (1628640000000), so a millisecond trace starts after
//     12 January 1978; Unix microseconds (16 digits in this century) and
//     nanoseconds (19 digits) past the milliseconds' range;
//   - RFC 3339: a date and time with Z or an offset (2021-08-11T00:00:00Z,
//     2021-08-11T02:00:00+02:00, 2021-08-11T00:00:00.25Z); a space may stand
//     for the T, and the seconds may be left out (2021-08-11 00:00Z);
//   - a date and time written the same way without an offset
//     (2021-08-11 00:00:00, as spreadsheets and pandas write them), read as
//     UTC.
//
// A row in another form than the first is an error. Samples are Unix
// seconds whatever the form. Errors name the source, line and field.
func Parse(r io.Reader, name string) ([]Sample, error) {
	return ParseColumn(r, name, "value", CheckLoad)
}

// CheckLoad returns why v cannot be a load (not finite, or negative), or ""
// when it can: the check Parse makes of every value, for loads read from
// elsewhere.
func CheckLoad(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "is not finite"
	}
	if v < 0 {
		return "is negative"
	}
	return ""
}

// ParseColumn reads CSV rows `ts,<column>` as Parse does, with check deciding
// which values are accepted: it returns why a value is refused, or "".
// Errors name the source, line and field (ts or column).
func ParseColumn(r io.Reader, name, column string, check func(float64) string) ([]Sample, error) {
	return parseFields(r, name, columns{label: column}, check, MaxRows)
}

// ParseField reads a load trace as Parse does from a file of any number of
// columns whose first line is a header: the time is the first column, the
// load the column named field (exactly as the header writes it), as a
// spreadsheet, a Grafana panel or pandas exports several series side by
// side. An empty cell is a missing sample (another column may have one at
// that time); a missing sample is a gap.
func ParseField(r io.Reader, name, field string) ([]Sample, error) {
	return parseFields(r, name, columns{label: field, named: true}, CheckLoad, MaxRows)
}

// columns says which field of a row holds the value: the second of two,
// or, with a header, the one named label (required when named).
type columns struct {
	label string // the value's name in errors and, with a header, in it
	named bool   // the header must name the value's column
}

// parseFields reads the rows of a trace, the value from the field cols
// picks, at most maxRows of them.
func parseFields(r io.Reader, name string, cols columns, check func(float64) string, maxRows int) ([]Sample, error) {
	r, err := textOf(r, name)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), MaxLineBytes)
	sc.Split(scanLines)
	var out []Sample
	line := 0
	var (
		sep      byte   // the field separator, chosen on the first line
		nf       = 2    // fields per row, set by the first line
		vi       = 1    // index of the value's field
		form     tsForm // the form of the first data row's timestamp
		formLine int    // the line of the first data row (0 before it)
		prevTS   int64  // the previous data row's timestamp
		prevText string // the same, as written
	)
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			// Spreadsheets start their CSV files with a UTF-8 byte-order mark.
			text = strings.TrimPrefix(text, "\ufeff")
		}
		text = strings.TrimSpace(text)
		if text == "" || text[0] == '#' {
			continue // a blank line, or a comment (InfluxDB's annotations, say)
		}
		first := sep == 0
		if first {
			sep = separatorOf(text)
		}
		fields, err := splitFields(text, sep)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if first {
			header := allHeaderFields(fields)
			if nf, vi, err = pickColumns(fields, header, cols, sep); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
			if header {
				continue
			}
		}
		if len(fields) != nf {
			if nf == 2 {
				return nil, fmt.Errorf("%s:%d: want 2 fields (ts,%s) separated by %s, got %d", name, line, cols.label, separatorName(sep), len(fields))
			}
			return nil, fmt.Errorf("%s:%d: want %d fields separated by %s, as the header, got %d", name, line, nf, separatorName(sep), len(fields))
		}
		tsText, valText := fields[0], fields[vi]
		if formLine == 0 {
			form, _ = formOf(tsText)
			formLine = line
		}
		ts, err := parseTS(tsText, form, line, formLine)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: field ts: %w", name, line, err)
		}
		if formLine < line && ts <= prevTS {
			hint := " (sort the rows by time, one row per timestamp)"
			switch {
			case form == dateTimeUTC:
				hint = " (local times repeat an hour when clocks go back: write UTC or an offset)"
			case ts == prevTS && (form != unixSeconds && numeric(form) || strings.Contains(tsText+prevText, ".")):
				hint = " (times are read to the nearest second: one row per second at most)"
			case form == unixSeconds && tsText == strconv.FormatInt(ts, 10):
				return nil, fmt.Errorf("%s:%d: field ts: %d is not after the previous row's %d%s", name, line, ts, prevTS, hint)
			}
			return nil, fmt.Errorf("%s:%d: field ts: %s is not after the previous row's %s%s", name, line, quote(tsText), quote(prevText), hint)
		}
		prevTS, prevText = ts, tsText
		if valText == "" || isMissingValue(valText) {
			continue // an empty cell (or NaN, null, NA): no sample at this time, a gap
		}
		v, err := parseValue(valText, sep)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: field %s: %s is not a number", name, line, cols.label, quote(valText))
		}
		if why := check(v); why != "" {
			return nil, fmt.Errorf("%s:%d: field %s: %s %s", name, line, cols.label, quote(valText), why)
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

// textOf returns the text of a trace read from r: UTF-16 (with its byte-order mark, as
// spreadsheets save "Unicode text") decoded to UTF-8. A file that is not text (gzip, a zip
// archive such as a spreadsheet, other binary data) or that is JSON is refused, saying so.
func textOf(r io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(512)
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return nil, fmt.Errorf("%s: is gzip-compressed, not CSV text: decompress it first (gunzip)", name)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return nil, fmt.Errorf("%s: is a zip archive (a spreadsheet?), not CSV text: export it as CSV", name)
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return transform.NewReader(br, unicode.BOMOverride(unicode.UTF8.NewDecoder())), nil
	case bytes.IndexByte(head, 0) >= 0:
		return nil, fmt.Errorf("%s: holds NUL bytes: not a text file (save the trace as CSV in UTF-8)", name)
	}
	if t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\ufeff")), " \t\r\n"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return nil, fmt.Errorf("%s: is JSON, not CSV rows of ts,value (for a Prometheus query's history, give the query to backtest --prometheus-url and --query)", name)
	}
	return br, nil
}

// scanLines is bufio.ScanLines that also ends a line at a lone CR, as classic Mac
// spreadsheets write CSV files.
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	i := bytes.IndexAny(data, "\r\n")
	switch {
	case i < 0 && atEOF && len(data) > 0:
		return len(data), data, nil
	case i < 0:
		return 0, nil, nil
	case data[i] == '\n':
		return i + 1, data[:i], nil
	case i+1 < len(data):
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	case atEOF:
		return i + 1, data[:i], nil
	default:
		return 0, nil, nil // a CR at the end of the buffer: is an LF next?
	}
}

// isMissingValue reports whether a value field says the value is missing, as exporters
// write it: NaN, null, NA, N/A or None, in any case.
func isMissingValue(text string) bool {
	switch strings.ToLower(text) {
	case "nan", "null", "na", "n/a", "none":
		return true
	}
	return false
}

// pickColumns returns the number of fields of each row and the index of the
// value's field, given the first line's fields (split at sep) and whether it
// is a header: with two fields the second, unless cols must be named; with
// more, or when it must, the header's field named cols.label.
func pickColumns(fields []string, header bool, cols columns, sep byte) (nf, vi int, err error) {
	nf = len(fields)
	switch {
	case !header && cols.named:
		return 0, 0, fmt.Errorf("want a header naming the columns, to find %s in, got %s", quote(cols.label), quote(strings.Join(fields, ",")))
	case nf == 2 && !cols.named:
		return 2, 1, nil
	case nf < 2:
		return 0, 0, fmt.Errorf("want 2 fields (ts,%s) separated by %s, got %d", cols.label, separatorName(sep), nf)
	case !header:
		return 0, 0, fmt.Errorf("want 2 fields (ts,%s) separated by %s, got %d (a file of more columns needs a header naming them)", cols.label, separatorName(sep), nf)
	}
	for i, f := range fields[1:] {
		if f == cols.label {
			return nf, i + 1, nil
		}
	}
	names := make([]string, 0, nf-1)
	for _, f := range fields[1:] {
		names = append(names, quote(f))
	}
	return 0, 0, fmt.Errorf("%w named %s after the time's: the header has %s", ErrNoColumn, quote(cols.label), strings.Join(names, ", "))
}

// ErrNoColumn is wrapped by the error for a header without the value's column, so that a
// command can say how to name another.
var ErrNoColumn = errors.New("no column")

// allHeaderFields reports whether every field of a line is a column name.
func allHeaderFields(fields []string) bool {
	for _, f := range fields {
		if !isHeaderField(f) {
			return false
		}
	}
	return true
}

// parseValue reads a value field. In a file separated by semicolons or tabs, the forms
// spreadsheets write where the comma is the decimal mark, a value with one comma and no
// point is read with the comma as the point (1,5 is 1.5).
func parseValue(text string, sep byte) (float64, error) {
	if i := strings.IndexByte(text, ','); sep == '\t' && i >= 0 && len(text)-i-1 == 3 && isDigits(text[i+1:]) {
		// 1,234 in a tab file: a decimal comma, or a thousands separator as English
		// spreadsheets write? Refused rather than guessed.
		return 0, errors.New("ambiguous")
	}
	if sep != ',' && strings.Count(text, ",") == 1 && !strings.Contains(text, ".") {
		text = strings.Replace(text, ",", ".", 1)
	}
	return strconv.ParseFloat(text, 64)
}

// separatorOf returns the field separator of a file whose first non-blank
// line is first: a tab when it holds one (a header of a tab-separated file may
// hold commas), else a semicolon when it splits first into two fields (such a
// file may write decimal commas, 1628640000;1,5), else a comma, or a
// semicolon when first has no comma but one (a line of another shape then
// fails on its field count, naming the separator).
func separatorOf(first string) byte {
	if strings.Contains(first, "\t") {
		return '\t'
	}
	if fields, err := splitFields(first, ';'); err == nil && len(fields) == 2 {
		return ';'
	}
	switch {
	case strings.Contains(first, ","):
		return ','
	case strings.Contains(first, ";"):
		return ';'
	default:
		return ','
	}
}

// separatorName names a separator in errors.
func separatorName(sep byte) string {
	switch sep {
	case '\t':
		return "tabs"
	case ';':
		return "semicolons"
	default:
		return "commas"
	}
}

// splitFields splits a line into its fields at sep, trimming spaces. A
// field may be enclosed in double quotes, in which a doubled quote stands
// for one; a quoted field may hold the separator.
func splitFields(line string, sep byte) ([]string, error) {
	var fields []string
	for i := 0; ; {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i < len(line) && line[i] == '"' {
			var b strings.Builder
			j := i + 1
			for {
				k := strings.IndexByte(line[j:], '"')
				if k < 0 {
					return nil, fmt.Errorf("field %d: quote opened at character %d is not closed", len(fields)+1, i+1)
				}
				b.WriteString(line[j : j+k])
				j += k + 1
				if j < len(line) && line[j] == '"' {
					b.WriteByte('"')
					j++
					continue
				}
				break
			}
			for j < len(line) && line[j] == ' ' {
				j++
			}
			fields = append(fields, strings.TrimSpace(b.String()))
			if j == len(line) {
				return fields, nil
			}
			if line[j] != sep {
				return nil, fmt.Errorf("field %d: text after its closing quote at character %d", len(fields), j+1)
			}
			i = j + 1
			continue
		}
		k := strings.IndexByte(line[i:], sep)
		if k < 0 {
			return append(fields, strings.TrimSpace(line[i:])), nil
		}
		fields = append(fields, strings.TrimSpace(line[i:i+k]))
		i += k + 1
	}
}

// quote quotes a field for an error message, shortened when long.
func quote(field string) string {
	return strconv.Quote(clip.Text(field, 40))
}

// isHeaderField reports whether a field of the first line is a column name:
// neither a number nor a date.
func isHeaderField(field string) bool {
	if field == "" || startsWithYear(field) {
		return false
	}
	_, err := strconv.ParseFloat(field, 64)
	return err != nil
}

// tsForm is how a file writes its timestamps; its first data row decides.
type tsForm int

const (
	unixSeconds tsForm = iota
	unixMillis
	unixMicros
	unixNanos
	rfc3339
	dateTimeUTC
)

func (f tsForm) String() string {
	switch f {
	case unixMillis:
		return "Unix milliseconds"
	case unixMicros:
		return "Unix microseconds"
	case unixNanos:
		return "Unix nanoseconds"
	case rfc3339:
		return "RFC 3339"
	case dateTimeUTC:
		return "a date and time without offset"
	default:
		return "Unix seconds"
	}
}

const (
	// maxUnixMillis is the last millisecond of year 9999, maxUnixMicros its
	// last microsecond (Unix nanoseconds end in 2262, at math.MaxInt64).
	maxUnixMillis = maxUnixSeconds*1000 + 999
	maxUnixMicros = maxUnixSeconds*1_000_000 + 999_999
	// min13Digits is the smallest 13-digit number: a first timestamp from
	// here on is milliseconds (September 2001 on; as seconds it would be
	// after year 9999) even when not a whole second, so that its error
	// says so.
	min13Digits = 1_000_000_000_000
	// dateTimeShape is the shape of a date and time up to the minutes, d
	// standing for a digit and T for a T or a space.
	dateTimeShape = "dddd-dd-ddTdd:dd"
	// rfc3339Example shows the RFC 3339 form in errors.
	rfc3339Example = "2021-08-11T00:00:00Z"
)

// formOf returns the form the timestamp s is written in, and false when it
// is in none (not a number, or a number in neither range, and not starting
// like a date).
func formOf(s string) (tsForm, bool) {
	f, err := strconv.ParseFloat(s, 64)
	switch {
	case err == nil && f >= 0 && f <= maxUnixSeconds:
		return unixSeconds, true
	case err == nil && f > maxUnixSeconds && f <= maxUnixMillis && (f >= min13Digits || math.Mod(f, 1000) == 0):
		return unixMillis, true
	case err == nil && f > maxUnixMillis && f <= maxUnixMicros:
		return unixMicros, true
	case err == nil && f > maxUnixMicros && f <= math.MaxInt64:
		return unixNanos, true
	case err == nil:
		return unixSeconds, false
	case startsWithYear(s):
		if dt, why := splitDateTime(s); why == "" && dt.offset == "" {
			return dateTimeUTC, true
		}
		return rfc3339, true
	default:
		return unixSeconds, false
	}
}

// startsWithYear reports whether s starts with four digits and a dash.
func startsWithYear(s string) bool {
	return len(s) >= 5 && isDigits(s[:4]) && s[4] == '-'
}

// isDigits reports whether s is only ASCII digits.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseTS parses the timestamp s, on line, of a file in form whose first
// data row is on line first, into Unix seconds. A timestamp in another form
// than the file's is an error that names both and the first row's line.
func parseTS(s string, form tsForm, line, first int) (int64, error) {
	var ts int64
	var err error
	switch form {
	case unixMillis:
		ts, err = parseUnits(s, 1000, form)
	case unixMicros:
		ts, err = parseUnits(s, 1_000_000, form)
	case unixNanos:
		ts, err = parseUnits(s, 1_000_000_000, form)
	case rfc3339, dateTimeUTC:
		ts, err = parseDateTime(s, form)
	default:
		ts, err = parseSeconds(s)
	}
	other, known := formOf(s)
	if err == nil && known && other != form && numeric(other) && numeric(form) {
		// A number in another unit's range: seconds in a millisecond file, say.
		err = fmt.Errorf("%s is %s", quote(s), other)
	}
	if err == nil {
		return ts, nil
	}
	if known && other != form {
		return 0, fmt.Errorf("%s is %s, but the first timestamp (line %d) is %s", quote(s), other, first, form)
	}
	if _, nerr := strconv.ParseFloat(s, 64); !known && nerr != nil && line == first {
		return 0, fmt.Errorf("%s is not Unix seconds (or milli-, micro- or nanoseconds) or an RFC 3339 time like %s", quote(s), rfc3339Example)
	}
	return 0, err
}

// numeric reports whether form writes times as numbers (Unix seconds or a fraction of them).
func numeric(form tsForm) bool {
	return form == unixSeconds || form == unixMillis || form == unixMicros || form == unixNanos
}

// parseSeconds parses Unix seconds, a decimal form rounded to the nearest second.
func parseSeconds(s string) (int64, error) {
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("%s is not Unix seconds", quote(s))
		}
		if math.IsNaN(f) || f < 0 || f > maxUnixSeconds {
			return 0, errNotUnixTime(s)
		}
		ts = int64(math.Round(f))
	}
	if ts < 0 || ts > maxUnixSeconds {
		return 0, errNotUnixTime(s)
	}
	return ts, nil
}

// parseUnits parses a Unix time in units of 1/perSecond second (milli-, micro- or
// nanoseconds; a decimal form too) into Unix seconds, rounded to the nearest second.
func parseUnits(s string, perSecond int64, form tsForm) (int64, error) {
	limit := int64(math.MaxInt64)
	if perSecond <= 1_000_000 {
		limit = maxUnixSeconds*perSecond + perSecond - 1
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return 0, fmt.Errorf("%s is not %s", quote(s), form)
		}
		if math.IsNaN(f) || f < 0 || f > float64(limit) {
			return 0, errNotUnixTime(s)
		}
		return int64(math.Round(f / float64(perSecond))), nil
	}
	if n < 0 || n > limit {
		return 0, errNotUnixTime(s)
	}
	return n/perSecond + (n%perSecond*2)/perSecond, nil
}

// parseDateTime parses a date and time that is a whole second into Unix
// seconds: with an offset when form is rfc3339 (2021-08-11T00:00:00Z,
// 2021-08-11 02:00+02:00), without one, read as UTC, when it is dateTimeUTC
// (2021-08-11 00:00:00).
func parseDateTime(s string, form tsForm) (int64, error) {
	dt, why := splitDateTime(s)
	if why != "" {
		return 0, fmt.Errorf("%s is not an RFC 3339 time like %s: %s", quote(s), rfc3339Example, why)
	}
	if (dt.offset == "") != (form == dateTimeUTC) {
		return 0, fmt.Errorf("%s is not %s", quote(s), form)
	}
	offset := dt.offset
	if offset == "" {
		offset = "Z"
	}
	t, err := time.Parse(time.RFC3339, dt.clock+offset)
	if err != nil {
		why := "a field out of range"
		if pe := (*time.ParseError)(nil); errors.As(err, &pe) && pe.Message != "" {
			why = strings.TrimPrefix(pe.Message, ": ")
		}
		return 0, fmt.Errorf("%s is not a valid RFC 3339 time: %s", quote(s), why)
	}
	ts := t.Unix()
	if dt.fraction != "" && dt.fraction[0] >= '5' {
		ts++ // rounded to the nearest second
	}
	if ts < 0 || ts > maxUnixSeconds {
		return 0, errNotUnixTime(s)
	}
	return ts, nil
}

// dateTime is a timestamp written as a date and time, in parts.
type dateTime struct {
	// clock is YYYY-MM-DDThh:mm:ss, with a T whatever separated the date
	// and time, and :00 when the seconds are left out.
	clock string
	// fraction is the digits after the seconds' decimal point, if any.
	fraction string
	// offset is Z, +hh:mm or -hh:mm, or "" when none is written.
	offset string
}

// splitDateTime splits s, written as YYYY-MM-DD, a T or a space, hh:mm,
// optionally :ss and a fraction, then optionally Z or +hh:mm or -hh:mm, into
// its parts. It returns what is wrong when s is not written so (the ranges
// of the numbers are time.Parse's to check).
func splitDateTime(s string) (dateTime, string) {
	if len(s) < len(dateTimeShape) {
		return dateTime{}, "too short"
	}
	for i := 0; i < len(dateTimeShape); i++ {
		switch c := dateTimeShape[i]; {
		case c == 'd' && !isDigits(s[i:i+1]):
			return dateTime{}, fmt.Sprintf("want a digit at character %d", i+1)
		case c == 'T' && s[i] != 'T' && s[i] != 't' && s[i] != ' ':
			return dateTime{}, fmt.Sprintf("want \"T\" or a space at character %d", i+1)
		case c != 'd' && c != 'T' && s[i] != c:
			return dateTime{}, fmt.Sprintf("want %q at character %d", dateTimeShape[i:i+1], i+1)
		}
	}
	dt := dateTime{clock: s[:10] + "T" + s[11:len(dateTimeShape)]}
	rest := s[len(dateTimeShape):]
	if len(rest) >= 3 && rest[0] == ':' && isDigits(rest[1:3]) {
		dt.clock += rest[:3]
		rest = rest[3:]
		if frac, ok := strings.CutPrefix(rest, "."); ok {
			n := 0
			for n < len(frac) && isDigits(frac[n:n+1]) {
				n++
			}
			if n == 0 {
				return dateTime{}, "no digits after the decimal point"
			}
			dt.fraction, rest = frac[:n], frac[n:]
		}
	} else {
		dt.clock += ":00"
	}
	switch {
	case rest == "":
	case rest == "Z" || rest == "z":
		dt.offset = "Z"
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && isDigits(rest[1:3]) && rest[3] == ':' && isDigits(rest[4:6]):
		if rest[1:3] > "23" || rest[4:6] > "59" {
			return dateTime{}, "offset out of range"
		}
		dt.offset = rest
	default:
		return dateTime{}, fmt.Sprintf("offset %s is not Z, +hh:mm or -hh:mm", quote(rest))
	}
	return dt, ""
}

// errNotUnixTime is the error for a time before 1970 or after year 9999.
func errNotUnixTime(s string) error {
	return fmt.Errorf("%s is not a Unix time between 1970 and year 9999", quote(s))
}

// InferStep returns the step of samples: the most common positive difference between
// consecutive timestamps (the smaller one on a tie), refined to the mean of the
// differences within an eighth of it (at least 2 s, under half of it), to the nearest second, so that rows
// stamped a second early or late by the clock that wrote them (59 s, 61 s, ...) give the
// step they were meant at.
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
	mode := diffs[0]
	// Within an eighth of the mode, at least 2 s but under half of it: a missing row (twice
	// the step) never counts.
	tol := min(max(2, mode/8), (mode-1)/2)
	var sum, n int64
	for d, c := range counts {
		if d >= mode-tol && d <= mode+tol {
			sum += d * int64(c)
			n += int64(c)
		}
	}
	step := (2*sum + n) / (2 * n) // the mean, to the nearest second
	if step > int64(math.MaxInt64/time.Second) {
		return 0, fmt.Errorf("rows %d s apart: no step of a load trace", step)
	}
	return time.Duration(max(step, 1)) * time.Second, nil
}

// OnGrid moves each timestamp that is within a quarter step of the grid of step onto it, as
// a replay that ticks every step expects. The grid is the series' own: the series is cut
// into runs whose rows are each within a quarter step of the grid of the run's first row
// (a new run starts where the phase changes, after a restart say), and each run's grid has
// the mean phase of its rows (on the circle of one step, so that rows a second early and
// late average to on time). A row is not moved onto a grid point another row takes: no
// row is dropped. It returns the samples (samples itself when none moves), how many moved
// and the largest move.
func OnGrid(samples []Sample, step time.Duration) (out []Sample, moved int, largest time.Duration) {
	s := int64(step / time.Second)
	if s < 2 || len(samples) == 0 {
		return samples, 0, 0
	}
	tol := s / 4
	onGridOf := func(ts, ref int64) bool {
		off := (ts - ref) % s
		return off <= tol || s-off <= tol
	}
	var maxMove int64
	for start := 0; start < len(samples); {
		end := start + 1
		for end < len(samples) && onGridOf(samples[end].TS, samples[start].TS) {
			end++
		}
		run := samples[start:end]
		var sin, cos float64
		for _, x := range run {
			a := 2 * math.Pi * float64(x.TS%s) / float64(s)
			sin, cos = sin+math.Sin(a), cos+math.Cos(a)
		}
		phase := (int64(math.Round(math.Atan2(sin, cos)/(2*math.Pi)*float64(s)))%s + s) % s
		for i, x := range run {
			off := ((x.TS-phase)%s + s) % s
			to := x.TS - off
			if s-off < off {
				to = x.TS + s - off
			}
			// Not onto a point the previous row holds, nor past the next row's own point.
			prev := int64(math.MinInt64)
			if n := len(out); n > 0 {
				prev = out[n-1].TS
			} else if start+i > 0 {
				prev = samples[start+i-1].TS
			}
			if to <= prev || start+i+1 < len(samples) && to >= samples[start+i+1].TS {
				to = x.TS
			}
			if to == x.TS && out == nil {
				continue // nothing moved yet: samples is shared until something does
			}
			if out == nil {
				out = append(make([]Sample, 0, len(samples)), samples[:start+i]...)
			}
			if to != x.TS {
				moved++
				maxMove = max(maxMove, abs(to-x.TS))
			}
			x.TS = to
			out = append(out, x)
		}
		start = end
	}
	if out == nil {
		return samples, 0, 0
	}
	return out, moved, time.Duration(maxMove) * time.Second
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
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
