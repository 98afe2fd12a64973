// Package schedule bounds a rule's served value by calendar: recurring
// windows (weekdays and a wall-clock time range in an IANA time zone) that
// set a floor and/or a ceiling, and one-off events (an RFC 3339 start and
// end) that set a floor and/or multiply the value.
//
// Apply is a pure function of (time, value): serving, the backtest (with
// the trace's time) and the shadow evaluation all call it, and none of them
// reads a clock through it.
//
// At a time t the value v becomes
//
//	v' = v * product(multipliers of active events)
//	v' = max(v', floors of active windows and events)
//	v' = min(v', ceilings of active windows)
//
// so a ceiling wins over a floor when both are active: a ceiling is a hard
// limit (a budget, a downstream's capacity), a floor is a preference.
package schedule

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // time zones resolve in images without /usr/share/zoneinfo
)

// Window is a recurring window: on Days, from Start to End wall-clock time in
// Location. End before Start crosses midnight: the window then runs from
// Start on a listed day to End on the next day. Wall-clock times follow the
// zone's daylight-saving changes: on the day clocks go forward, a window that
// starts in the skipped hour starts when the clock reaches the next existing
// minute past it; on the day clocks go back, the repeated hour is in the
// window (or not) both times.
type Window struct {
	// Days are the weekdays the window starts on; all of them when empty.
	Days []time.Weekday
	// Start and End are minutes since local midnight, in [0, 1440]; End 1440
	// is the end of the day. Start != End.
	Start, End int
	// Location is the window's time zone (UTC when nil).
	Location *time.Location
	// Min, when set, is the floor while the window is active.
	Min *float64
	// Max, when set, is the ceiling while the window is active.
	Max *float64
}

// Event is a one-off window [Start, End).
type Event struct {
	// Name labels the event in logs.
	Name string
	// Start and End bound the event; End is after Start.
	Start, End time.Time
	// Min, when set, is the floor while the event is active.
	Min *float64
	// Multiplier, when set (> 0), multiplies the value while the event is active.
	Multiplier *float64
}

// Schedule is a rule's windows and events. The zero Schedule changes nothing.
type Schedule struct {
	Windows []Window
	Events  []Event
}

// Bounds are the limits active at one time.
type Bounds struct {
	// Floor is the largest active floor, NaN when none is active.
	Floor float64
	// Ceiling is the smallest active ceiling, NaN when none is active.
	Ceiling float64
	// Multiplier is the product of the active events' multipliers (1 when none).
	Multiplier float64
}

// Empty reports whether the schedule has no window and no event.
func (s Schedule) Empty() bool { return len(s.Windows) == 0 && len(s.Events) == 0 }

// At returns the bounds active at t.
func (s Schedule) At(t time.Time) Bounds {
	b := Bounds{Floor: math.NaN(), Ceiling: math.NaN(), Multiplier: 1}
	floor := func(v *float64) {
		if v != nil && (math.IsNaN(b.Floor) || *v > b.Floor) {
			b.Floor = *v
		}
	}
	for i := range s.Windows {
		w := &s.Windows[i]
		if !w.Active(t) {
			continue
		}
		floor(w.Min)
		if w.Max != nil && (math.IsNaN(b.Ceiling) || *w.Max < b.Ceiling) {
			b.Ceiling = *w.Max
		}
	}
	for i := range s.Events {
		e := &s.Events[i]
		if t.Before(e.Start) || !t.Before(e.End) {
			continue
		}
		floor(e.Min)
		if e.Multiplier != nil {
			b.Multiplier *= *e.Multiplier
		}
	}
	return b
}

// Apply returns v bounded by the schedule at t, and the bounds applied.
func (s Schedule) Apply(t time.Time, v float64) (float64, Bounds) {
	b := s.At(t)
	return b.Apply(v), b
}

// Apply bounds v: multiplier, then floor, then ceiling.
func (b Bounds) Apply(v float64) float64 {
	v *= b.Multiplier
	if !math.IsNaN(b.Floor) && !(v >= b.Floor) {
		v = b.Floor
	}
	if !math.IsNaN(b.Ceiling) && v > b.Ceiling {
		v = b.Ceiling
	}
	return v
}

// Active reports whether the window is active at t.
func (w *Window) Active(t time.Time) bool {
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	day := lt.Weekday()
	if w.Start < w.End {
		return w.onDay(day) && m >= w.Start && m < w.End
	}
	// Crosses midnight: the evening part on a listed day, the morning part
	// on the day after a listed day.
	return (w.onDay(day) && m >= w.Start) || (w.onDay((day+6)%7) && m < w.End)
}

func (w *Window) onDay(d time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	for _, x := range w.Days {
		if x == d {
			return true
		}
	}
	return false
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseDays parses day specs such as "mon", "mon-fri" or "fri-mon" (wrapping
// over the weekend) into weekdays, without duplicates.
func ParseDays(specs []string) ([]time.Weekday, error) {
	var out []time.Weekday
	seen := [7]bool{}
	add := func(d time.Weekday) {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, s := range specs {
		from, to, isRange := strings.Cut(s, "-")
		a, err := parseDay(from)
		if err != nil {
			return nil, err
		}
		if !isRange {
			add(a)
			continue
		}
		b, err := parseDay(to)
		if err != nil {
			return nil, err
		}
		for d := a; ; d = (d + 1) % 7 {
			add(d)
			if d == b {
				break
			}
		}
	}
	return out, nil
}

func parseDay(s string) (time.Weekday, error) {
	ls := strings.ToLower(strings.TrimSpace(s))
	for i, n := range dayNames {
		if ls == n {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("unknown day %q: want one of %s, or a range like mon-fri", s, strings.Join(dayNames, ", "))
}

// ParseClock parses a wall-clock time "HH:MM" (00:00 to 24:00) into minutes since midnight.
func ParseClock(s string) (int, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("must be a time like \"08:00\" (HH:MM), got %q", s)
	}
	for i, c := range s {
		if i != 2 && (c < '0' || c > '9') {
			return 0, fmt.Errorf("must be a time like \"08:00\" (HH:MM), got %q", s)
		}
	}
	h = int(s[0]-'0')*10 + int(s[1]-'0')
	m = int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("must be between 00:00 and 24:00, got %q", s)
	}
	return h*60 + m, nil
}

// locations caches loaded time zones by name: the IANA database bounds it
// (a few hundred zones), and a rule loaded twice then holds the very same
// *time.Location, so that reloading an unchanged rule file leaves it equal
// (reflect.DeepEqual) to the running rule even across a zone's transition.
var locations sync.Map // name -> *time.Location

// LoadLocation returns the IANA time zone name, "UTC" included; "Local" and
// "" are refused: a rule's windows must not depend on the host's zone.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("unknown IANA time zone %q (e.g. Europe/Berlin, UTC)", name)
	}
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown IANA time zone %q (e.g. Europe/Berlin, UTC)", name)
	}
	actual, _ := locations.LoadOrStore(name, loc)
	return actual.(*time.Location), nil
}
