package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/foresight-dev/foresight/adapter/schedule"
	"github.com/foresight-dev/foresight/internal/strictyaml"
)

// A rule's schedule and events bound its served value by calendar (package
// schedule): recurring windows that set a floor and/or a ceiling, and
// one-off events that set a floor and/or multiply the value.
//
//	schedule:
//	- days: [mon-fri]          # mon..sun, ranges like mon-fri or fri-mon; all days when absent
//	  start: "08:00"           # wall-clock HH:MM in timeZone
//	  end: "18:00"             # exclusive; before start crosses midnight; "24:00" ends the day
//	  timeZone: Europe/Berlin  # IANA name; default UTC
//	  min: 4                   # floor while active
//	  max: 40                  # ceiling while active (wins over any floor)
//	events:
//	- name: black-friday
//	  start: 2026-11-27T06:00:00+01:00   # RFC 3339
//	  end: 2026-11-28T00:00:00+01:00     # exclusive, after start
//	  min: 10
//	  multiplier: 2                      # applied to the value before floors and ceilings
//
// On a queue rule the value bounded is the worker demand.

func (d *decoder) schedule(n *yaml.Node, path string) []schedule.Window {
	items := d.Sequence(n, path)
	out := make([]schedule.Window, len(items))
	for i, item := range items {
		w := &out[i]
		w.Start, w.End = -1, -1 // required
		w.Location = time.UTC
		ip := strictyaml.Item(path, i)
		d.Mapping(item, ip, map[string]func(*yaml.Node, string){
			"days": func(n *yaml.Node, p string) {
				var specs []string
				for j, dn := range d.Sequence(n, p) {
					specs = append(specs, d.String(dn, strictyaml.Item(p, j)))
				}
				days, err := schedule.ParseDays(specs)
				if err != nil {
					d.Errorf(n, p, "%v", err)
					return
				}
				if len(days) == 0 {
					d.Errorf(n, p, "must list at least one day (leave it out for every day)")
				}
				w.Days = days
			},
			"start": func(n *yaml.Node, p string) { w.Start = d.clock(n, p) },
			"end":   func(n *yaml.Node, p string) { w.End = d.clock(n, p) },
			"timeZone": func(n *yaml.Node, p string) {
				name := d.String(n, p)
				if name == "" {
					return
				}
				loc, err := schedule.LoadLocation(name)
				if err != nil {
					d.Errorf(n, p, "%v", err)
					return
				}
				w.Location = loc
			},
			"min": func(n *yaml.Node, p string) { w.Min = d.bound(n, p) },
			"max": func(n *yaml.Node, p string) { w.Max = d.bound(n, p) },
		})
	}
	return out
}

func (d *decoder) events(n *yaml.Node, path string) []schedule.Event {
	items := d.Sequence(n, path)
	out := make([]schedule.Event, len(items))
	for i, item := range items {
		e := &out[i]
		ip := strictyaml.Item(path, i)
		d.Mapping(item, ip, map[string]func(*yaml.Node, string){
			"name":  func(n *yaml.Node, p string) { e.Name = d.String(n, p) },
			"start": func(n *yaml.Node, p string) { e.Start = d.timestamp(n, p) },
			"end":   func(n *yaml.Node, p string) { e.End = d.timestamp(n, p) },
			"min":   func(n *yaml.Node, p string) { e.Min = d.bound(n, p) },
			"multiplier": func(n *yaml.Node, p string) {
				if v := d.bound(n, p); v != nil {
					if *v == 0 {
						d.Errorf(n, p, "must be > 0, got 0")
						return
					}
					e.Multiplier = v
				}
			},
		})
	}
	return out
}

// clock decodes a wall-clock time "HH:MM"; -1 when it fails.
func (d *decoder) clock(n *yaml.Node, path string) int {
	s := d.String(n, path)
	if s == "" {
		return -1
	}
	m, err := schedule.ParseClock(s)
	if err != nil {
		d.Errorf(n, path, "%v", err)
		return -1
	}
	return m
}

// bound decodes a number >= 0; nil when it fails.
func (d *decoder) bound(n *yaml.Node, path string) *float64 {
	before := len(d.Errs)
	v := d.Float(n, path)
	if len(d.Errs) != before {
		return nil
	}
	if v < 0 {
		d.Errorf(n, path, "must be >= 0, got %v", v)
		return nil
	}
	return &v
}

// timestamp decodes an RFC 3339 time, quoted or not.
func (d *decoder) timestamp(n *yaml.Node, path string) time.Time {
	n, ok := d.Scalar(n, path, "an RFC 3339 time")
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, n.Value)
	if (n.Tag != "!!str" && n.Tag != "!!timestamp") || err != nil {
		d.Errorf(n, path, `must be an RFC 3339 time like "2026-11-27T06:00:00+01:00", got %q`, n.Value)
		return time.Time{}
	}
	return t
}

// validateSchedule checks what decoding could not: required fields and
// fields that must agree.
func (r *Rule) validateSchedule(at func(string) string, add func(field, format string, args ...any)) {
	for i, w := range r.Schedule {
		p := at(fmt.Sprintf("schedule[%d]", i))
		switch {
		case w.Start < 0:
			add(p+".start", `required: a wall-clock time like "08:00"`)
		case w.End < 0:
			add(p+".end", `required: a wall-clock time like "18:00"`)
		case w.Start >= 0 && w.Start == w.End:
			add(p+".end", `must differ from start (for a whole day use start "00:00", end "24:00")`)
		case w.Start == 24*60:
			add(p+".start", `must be before "24:00"`)
		}
		if w.Min == nil && w.Max == nil {
			add(p, "needs min, max or both")
		}
		if w.Min != nil && w.Max != nil && *w.Min > *w.Max {
			add(p+".min", "must not exceed max %v, got %v", *w.Max, *w.Min)
		}
	}
	for i, e := range r.Events {
		p := at(fmt.Sprintf("events[%d]", i))
		switch {
		case e.Start.IsZero():
			add(p+".start", "required: an RFC 3339 time")
		case e.End.IsZero():
			add(p+".end", "required: an RFC 3339 time")
		case !e.End.After(e.Start):
			add(p+".end", "must be after start %s, got %s", e.Start.Format(time.RFC3339), e.End.Format(time.RFC3339))
		}
		if e.Min == nil && e.Multiplier == nil {
			add(p, "needs min, multiplier or both")
		}
	}
}

// ScheduleSpec returns the rule's schedule and events for package schedule.
func (r Rule) ScheduleSpec() schedule.Schedule {
	return schedule.Schedule{Windows: r.Schedule, Events: r.Events}
}
