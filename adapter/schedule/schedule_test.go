package schedule

import (
	"math"
	"strings"
	"testing"
	"time"
)

func f(v float64) *float64 { return &v }

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestWindowActive(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	weekdays, err := ParseDays([]string{"mon-fri"})
	if err != nil {
		t.Fatal(err)
	}
	office := Window{Days: weekdays, Start: 8 * 60, End: 18 * 60, Location: berlin}
	// 22:00 to 06:00, starting on Fridays only: Friday night and Saturday morning.
	night := Window{Days: []time.Weekday{time.Friday}, Start: 22 * 60, End: 6 * 60, Location: berlin}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, c := range []struct {
		name string
		w    Window
		t    time.Time
		want bool
	}{
		{"weekday start is inclusive", office, at("2026-12-02 08:00"), true},
		{"weekday before start", office, at("2026-12-02 07:59"), false},
		{"weekday end is exclusive", office, at("2026-12-02 18:00"), false},
		{"saturday", office, at("2026-12-05 12:00"), false},
		{"UTC instant in Berlin winter", office, time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC), true},
		{"UTC instant before Berlin opens", office, time.Date(2026, 12, 2, 6, 59, 0, 0, time.UTC), false},
		{"crossing midnight: evening part on the listed day", night, at("2026-12-04 23:30"), true},
		{"crossing midnight: morning part on the next day", night, at("2026-12-05 05:59"), true},
		{"crossing midnight: morning part ends", night, at("2026-12-05 06:00"), false},
		{"crossing midnight: morning after an unlisted day", night, at("2026-12-04 03:00"), false},
		{"crossing midnight: evening of an unlisted day", night, at("2026-12-05 23:00"), false},
		// Berlin springs forward on 2026-03-29 at 02:00 -> 03:00 (00:00 UTC -> 01:00 UTC).
		{"spring forward: summer time opens at 06:00 UTC", office, time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC), true},
		{"spring forward: 07:00 UTC is 09:00 local", Window{Start: 9 * 60, End: 10 * 60, Location: berlin}, time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC), true},
		{"spring forward: window in the skipped hour starts at 03:00", Window{Start: 2*60 + 30, End: 4 * 60, Location: berlin}, time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), true},
		{"spring forward: before the skipped hour", Window{Start: 2*60 + 30, End: 4 * 60, Location: berlin}, time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC), false},
		// Berlin falls back on 2026-10-25 at 03:00 -> 02:00 (01:00 UTC): 02:30 local happens twice.
		{"fall back: first 02:30", Window{Start: 2 * 60, End: 3 * 60, Location: berlin}, time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC), true},
		{"fall back: second 02:30", Window{Start: 2 * 60, End: 3 * 60, Location: berlin}, time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), true},
		{"fall back: 03:00 local ends it", Window{Start: 2 * 60, End: 3 * 60, Location: berlin}, time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC), false},
		{"end of day 24:00", Window{Start: 20 * 60, End: 24 * 60}, time.Date(2026, 12, 2, 23, 59, 0, 0, time.UTC), true},
	} {
		if got := c.w.Active(c.t); got != c.want {
			t.Errorf("%s: Active(%s) = %v, want %v", c.name, c.t.UTC().Format(time.RFC3339), got, c.want)
		}
	}
}

func TestApplyFloorCeilingAndEvents(t *testing.T) {
	day := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC) // a Wednesday
	s := Schedule{
		Windows: []Window{
			{Start: 8 * 60, End: 18 * 60, Min: f(4)},
			{Start: 11 * 60, End: 13 * 60, Min: f(6), Max: f(10)},
			{Start: 11 * 60, End: 12*60 + 30, Max: f(5)},
		},
		Events: []Event{
			{Start: day.Add(-time.Hour), End: day.Add(time.Hour), Multiplier: f(2)},
			{Start: day.Add(-time.Minute), End: day.Add(time.Minute), Multiplier: f(1.5), Min: f(3)},
		},
	}
	for _, c := range []struct {
		name       string
		t          time.Time
		v, want    float64
		floor, cap float64
	}{
		{"no window", day.Add(-10 * time.Hour), 1, 1, math.NaN(), math.NaN()},
		{"floor raises", day.Add(-3 * time.Hour), 1, 4, 4, math.NaN()},
		{"above the floor unchanged", day.Add(-3 * time.Hour), 7, 7, 4, math.NaN()},
		// 12:00: floors 4, 6 and 3 (event), ceilings 10 and 5: the ceiling wins over the floor.
		{"ceiling wins over floor", day, 1, 5, 6, 5},
		// 12:45: floors 4 and 6, ceiling 10, multiplier 2: 4*2 = 8.
		{"multiplier then floor then ceiling", day.Add(45 * time.Minute), 4, 8, 6, 10},
		{"multiplied over the ceiling", day.Add(45 * time.Minute), 7, 10, 6, 10},
		{"event ends exclusively", day.Add(time.Hour + 45*time.Minute), 3, 4, 4, math.NaN()},
	} {
		got, b := s.Apply(c.t, c.v)
		if got != c.want {
			t.Errorf("%s: Apply(%v) = %v, want %v (bounds %+v)", c.name, c.v, got, c.want, b)
		}
		if !same(b.Floor, c.floor) || !same(b.Ceiling, c.cap) {
			t.Errorf("%s: bounds %+v, want floor %v ceiling %v", c.name, b, c.floor, c.cap)
		}
	}
	if got, _ := (Schedule{}).Apply(day, 3.5); got != 3.5 {
		t.Errorf("empty schedule changed 3.5 to %v", got)
	}
}

func same(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func TestParseDays(t *testing.T) {
	got, err := ParseDays([]string{"fri-mon", "wed", "Sat"})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Weekday{time.Friday, time.Saturday, time.Sunday, time.Monday, time.Wednesday}
	if len(got) != len(want) {
		t.Fatalf("ParseDays = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ParseDays = %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"monday", "mon-", "x-fri", ""} {
		if _, err := ParseDays([]string{bad}); err == nil {
			t.Errorf("ParseDays(%q) accepted", bad)
		}
	}
}

func TestParseClock(t *testing.T) {
	for s, want := range map[string]int{"00:00": 0, "08:30": 510, "23:59": 1439, "24:00": 1440} {
		if got, err := ParseClock(s); err != nil || got != want {
			t.Errorf("ParseClock(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, bad := range []string{"8:00", "24:01", "12:60", "25:00", "ab:cd", "08:00:00", ""} {
		if _, err := ParseClock(bad); err == nil {
			t.Errorf("ParseClock(%q) accepted", bad)
		}
	}
}

// FuzzWindow parses a window's fields as the rule file gives them and checks
// that a parsed window bounds values as documented at any instant.
func FuzzWindow(f *testing.F) {
	f.Add("mon-fri", "08:00", "18:00", int64(1_764_666_000), 3.0)
	f.Add("fri-mon", "22:00", "06:00", int64(1_774_746_000), -1.0)
	f.Add("sun", "00:00", "24:00", int64(0), 1e9)
	f.Fuzz(func(t *testing.T, days, start, end string, at int64, v float64) {
		ds, err := ParseDays(strings.Split(days, ","))
		if err != nil {
			return
		}
		s, err1 := ParseClock(start)
		e, err2 := ParseClock(end)
		if err1 != nil || err2 != nil || s == e || s == 24*60 {
			return
		}
		if s < 0 || s > 24*60 || e < 0 || e > 24*60 || len(ds) > 7 {
			t.Fatalf("parsed out of range: %v %d %d", ds, s, e)
		}
		lo, hi := 2.0, 5.0
		sch := Schedule{Windows: []Window{{Days: ds, Start: s, End: e, Min: &lo, Max: &hi}}}
		tm := time.Unix(at%(1<<40), 0)
		got, b := sch.Apply(tm, v)
		if sch.Windows[0].Active(tm) {
			if b.Floor != lo || b.Ceiling != hi || got < lo || got > hi {
				t.Fatalf("active window: Apply(%v) = %v, bounds %+v", v, got, b)
			}
		} else if got != v && !(math.IsNaN(got) && math.IsNaN(v)) {
			t.Fatalf("inactive window changed %v to %v", v, got)
		}
	})
}

func TestLoadLocation(t *testing.T) {
	a, err := LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := LoadLocation("Europe/Berlin"); a != b {
		t.Error("two loads of a zone return different locations: a reloaded rule would differ from the running one")
	}
	for _, bad := range []string{"", "Local", "Europe/Berlim", "../etc/passwd"} {
		if _, err := LoadLocation(bad); err == nil {
			t.Errorf("LoadLocation(%q) accepted", bad)
		}
	}
}
