package config

import (
	"testing"
	"time"
)

const scheduleFile = `apiVersion: foresight.dev/v1alpha1
kind: MetricRules
rules:
- name: predicted_jobs_per_second
  query: sum by (namespace, queue) (rate(jobs_enqueued_total{<<.LabelMatchers>>}[2m]))
  schedule:
  - days: [mon-fri]
    start: "08:00"
    end: "18:00"
    timeZone: Europe/Berlin
    min: 4
  - start: "22:00"
    end: "06:00"
    max: 2
  events:
  - name: black-friday
    start: 2026-11-27T06:00:00+01:00
    end: "2026-11-28T00:00:00+01:00"
    min: 10
    multiplier: 2
  queue:
    backlog: max by (namespace, queue) (redis_key_size{<<.LabelMatchers>>})
    throughput: 5
    drainTime: 2m
    coolDown: 0s
`

func TestParseScheduleEventsQueue(t *testing.T) {
	f, err := Parse([]byte(scheduleFile), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := f.Rules[0]
	s := r.ScheduleSpec()
	if len(s.Windows) != 2 || len(s.Events) != 1 {
		t.Fatalf("schedule %+v", s)
	}
	w := s.Windows[0]
	if len(w.Days) != 5 || w.Start != 480 || w.End != 1080 || w.Location.String() != "Europe/Berlin" || *w.Min != 4 || w.Max != nil {
		t.Errorf("window 0 = %+v", w)
	}
	if s.Windows[1].Location != time.UTC || len(s.Windows[1].Days) != 0 {
		t.Errorf("window 1 defaults = %+v", s.Windows[1])
	}
	e := s.Events[0]
	if e.Name != "black-friday" || e.End.Sub(e.Start) != 18*time.Hour || *e.Multiplier != 2 {
		t.Errorf("event = %+v", e)
	}
	// Wednesday 2026-12-02 07:30 UTC is 08:30 in Berlin: floor 4.
	if v, _ := s.Apply(time.Date(2026, 12, 2, 7, 30, 0, 0, time.UTC), 1); v != 4 {
		t.Errorf("served %v in the office window, want 4", v)
	}
	q := r.Queue
	if q == nil || q.Params.Throughput != 5 || q.Params.DrainTime != 2*time.Minute || q.Params.WakeLead != DefaultWakeLead || q.Params.CoolDown != 0 {
		t.Errorf("queue = %+v", q)
	}
	if err := q.Params.Validate(); err != nil {
		t.Error(err)
	}
}

func TestParseScheduleEventsQueueErrors(t *testing.T) {
	rep := func(old, new string) string { return replaceText(t, "scheduleFile", scheduleFile, old, new) }
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"unknown day", rep("[mon-fri]", "[mon-fry]"), []string{`rules.yaml:7: rules[0].schedule[0].days: unknown day "fry"`}},
		{"bad time", rep(`start: "08:00"`, `start: "8am"`), []string{`rules.yaml:8: rules[0].schedule[0].start: must be a time like "08:00"`}},
		{"hour out of range", rep(`end: "18:00"`, `end: "25:00"`), []string{`rules.yaml:9: rules[0].schedule[0].end: must be between 00:00 and 24:00`}},
		{"unknown time zone", rep("Europe/Berlin", "Europe/Berlim"), []string{`rules.yaml:10: rules[0].schedule[0].timeZone: unknown IANA time zone "Europe/Berlim"`}},
		{"local is not a zone", rep("Europe/Berlin", "Local"), []string{`rules.yaml:10: rules[0].schedule[0].timeZone: unknown IANA time zone "Local"`}},
		{"start equals end", rep(`end: "06:00"`, `end: "22:00"`), []string{`rules.yaml:13: rules[0].schedule[1].end: must differ from start`}},
		{"missing start", rep("  - start: \"22:00\"\n", "  - days: [sat]\n"), []string{`rules.yaml:12: rules[0].schedule[1].start: required`}},
		{"no bound", rep("    max: 2\n", ""), []string{`rules.yaml:12: rules[0].schedule[1]: needs min, max or both`}},
		{"min above max", rep("    min: 4\n", "    min: 4\n    max: 3\n"), []string{`rules.yaml:11: rules[0].schedule[0].min: must not exceed max 3, got 4`}},
		{"negative floor", rep("min: 4", "min: -1"), []string{`rules.yaml:11: rules[0].schedule[0].min: must be >= 0`}},
		{"end before start", rep(`end: "2026-11-28T00:00:00+01:00"`, `end: "2026-11-26T00:00:00+01:00"`),
			[]string{`rules.yaml:18: rules[0].events[0].end: must be after start 2026-11-27T06:00:00+01:00`}},
		{"bad RFC 3339", rep(`end: "2026-11-28T00:00:00+01:00"`, `end: "next friday"`),
			[]string{`rules.yaml:18: rules[0].events[0].end: must be an RFC 3339 time`}},
		{"zero multiplier", rep("multiplier: 2", "multiplier: 0"), []string{`rules.yaml:20: rules[0].events[0].multiplier: must be > 0`}},
		{"unknown event key", rep("    min: 10\n", "    floor: 10\n"), []string{`rules.yaml:19: rules[0].events[0].floor: unknown field`}},
		{"queue without backlog", rep("    backlog: max by (namespace, queue) (redis_key_size{<<.LabelMatchers>>})\n", ""),
			[]string{`rules.yaml:21: rules[0].queue.backlog: required`}},
		{"queue without throughput", rep("    throughput: 5\n", ""), []string{`rules.yaml:21: rules[0].queue.throughput: required`}},
		{"backlog drops the namespace", rep("max by (namespace, queue) (redis_key_size", "max by (queue) (redis_key_size"),
			[]string{`rules.yaml:22: rules[0].queue.backlog: its result drops the namespace label`}},
		{"queue on the pods API", rep("  queue:\n", "  api: pods\n  queue:\n"),
			[]string{`rules.yaml:22: rules[0].queue: a queue rule serves one worker demand per queue`}},
		{"queue with shadow", rep("  queue:\n", "  shadow: {strategies: [reactive, auto]}\n  queue:\n"),
			[]string{`rules.yaml:22: rules[0].queue: the shadow evaluation simulates load-based scaling`}},
		{"wake lead past the horizon", rep("    coolDown: 0s\n", "    coolDown: 0s\n    wakeLead: 10m\n"),
			[]string{`rules.yaml:26: rules[0].queue.wakeLead: must not exceed forecast.horizon 5m`}},
	} {
		t.Run(tc.name, func(t *testing.T) { _ = parseFails(t, tc.in, tc.want) })
	}
}
