package incidents

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// group is a tiny in-memory store, enough to run the rules over a sequence
// of events the way the SQLite store does.
type group struct {
	incidents []*Incident
	alerts    map[int64]map[string]*Alert
	timeline  map[int64][]Entry
}

func (g *group) view(ev *Event) View {
	v := View{}
	if len(g.incidents) == 0 {
		return v
	}
	inc := g.incidents[len(g.incidents)-1]
	v.Incident = inc
	v.Alert = g.alerts[inc.ID][ev.DedupKey]
	return v
}

func (g *group) write(ch Change, at time.Time) {
	if ch.Incident == nil {
		return
	}
	inc := ch.Incident
	if inc.ID == 0 {
		inc.ID = int64(len(g.incidents) + 1)
		g.incidents = append(g.incidents, inc)
		g.alerts[inc.ID] = map[string]*Alert{}
	} else {
		g.incidents[inc.ID-1] = inc
	}
	if ch.Alert != nil {
		g.alerts[inc.ID][ch.Alert.DedupKey] = ch.Alert
	}
	if ch.ResolveAlerts {
		for _, a := range g.alerts[inc.ID] {
			if a.Status == AlertFiring {
				a.Status, a.EndsAt = AlertResolved, &at
			}
		}
	}
	g.timeline[inc.ID] = append(g.timeline[inc.ID], ch.Timeline...)
}

type step struct {
	after time.Duration // since the previous step (the injected clock)
	ev    *Event        // a source event, or
	cmd   *Command      // a person's command on the newest incident
	// expected afterwards
	outcome  string
	state    State
	severity Severity
	count    int    // incidents in the group
	firing   int    // firing alerts of the newest incident
	err      string // the command's refusal
}

func fire(key string, sev Severity) *Event {
	return &Event{ID: "x", Source: "test", Action: Trigger, DedupKey: key, GroupKey: "g", Severity: sev, Summary: key + " is down"}
}

func clear(key string) *Event {
	return &Event{ID: "x", Source: "test", Action: Resolve, DedupKey: key, GroupKey: "g"}
}

func cmd(v Verb) *Command {
	return &Command{ID: "c", IncidentID: 1, Verb: v, Actor: "alice", Origin: "test", Text: "note", Duration: time.Hour}
}

func TestRules(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"one alert fires and resolves", []step{
			{ev: fire("a", Warning), outcome: "opened", state: Triggered, severity: Warning, count: 1, firing: 1},
			{after: time.Minute, ev: clear("a"), outcome: "resolved", state: Resolved, severity: Warning, count: 1},
		}},
		{"dedup: the same alert again changes nothing", []step{
			{ev: fire("a", Warning), outcome: "opened", state: Triggered, severity: Warning, count: 1, firing: 1},
			{after: time.Second, ev: fire("a", Warning), outcome: "ignored: alert a is already firing", state: Triggered, severity: Warning, count: 1, firing: 1},
		}},
		{"severity is the highest firing alert's", []step{
			{ev: fire("a", Info), outcome: "opened", state: Triggered, severity: Info, count: 1, firing: 1},
			{ev: fire("b", Critical), outcome: "updated", state: Triggered, severity: Critical, count: 1, firing: 2},
			{ev: fire("c", Warning), outcome: "updated", state: Triggered, severity: Critical, count: 1, firing: 3},
			{ev: clear("b"), outcome: "updated", state: Triggered, severity: Warning, count: 1, firing: 2},
			{ev: clear("c"), outcome: "updated", state: Triggered, severity: Info, count: 1, firing: 1},
			{ev: clear("a"), outcome: "resolved", state: Resolved, severity: Info, count: 1},
		}},
		{"resolves only when all alerts have", []step{
			{ev: fire("a", Warning), outcome: "opened", state: Triggered, severity: Warning, count: 1, firing: 1},
			{ev: fire("b", Warning), outcome: "updated", state: Triggered, severity: Warning, count: 1, firing: 2},
			{ev: clear("a"), outcome: "updated", state: Triggered, severity: Warning, count: 1, firing: 1},
			{ev: clear("a"), outcome: "ignored: alert a is already resolved", state: Triggered, severity: Warning, count: 1, firing: 1},
			{ev: clear("b"), outcome: "resolved", state: Resolved, severity: Warning, count: 1},
		}},
		{"re-fire within the reopen window reopens", []step{
			{ev: fire("a", Warning), outcome: "opened", state: Triggered, severity: Warning, count: 1, firing: 1},
			{cmd: cmd(Ack), outcome: "acknowledged", state: Acknowledged, severity: Warning, count: 1, firing: 1},
			{after: time.Minute, ev: clear("a"), outcome: "resolved", state: Resolved, severity: Warning, count: 1},
			{after: 29 * time.Minute, ev: fire("a", Critical), outcome: "reopened", state: Triggered, severity: Critical, count: 1, firing: 1},
		}},
		{"re-fire after the reopen window opens a new incident", []step{
			{ev: fire("a", Warning), outcome: "opened", state: Triggered, severity: Warning, count: 1, firing: 1},
			{after: time.Minute, ev: clear("a"), outcome: "resolved", state: Resolved, severity: Warning, count: 1},
			{after: 31 * time.Minute, ev: fire("a", Warning), outcome: "opened", state: Triggered, severity: Warning, count: 2, firing: 1},
		}},
		{"a late retry of an ended firing is ignored", []step{
			{ev: fire("a", Warning), outcome: "opened", state: Triggered, severity: Warning, count: 1, firing: 1},
			{after: time.Minute, ev: clear("a"), outcome: "resolved", state: Resolved, severity: Warning, count: 1},
			{after: time.Second, ev: func() *Event { e := fire("a", Warning); e.OccurredAt = t0; return e }(),
				outcome: "ignored: alert a already ended at 2026-01-02T03:05:00Z", state: Resolved, severity: Warning, count: 1},
		}},
		{"resolve of an unknown alert is ignored", []step{
			{ev: clear("zz"), outcome: "ignored: no alert zz to resolve"},
		}},
		{"ack, unack, snooze, comment, resolve by hand", []step{
			{ev: fire("a", Warning), outcome: "opened", state: Triggered, severity: Warning, count: 1, firing: 1},
			{cmd: cmd(Unack), err: "incident #1 is not acknowledged", state: Triggered, severity: Warning, count: 1, firing: 1},
			{cmd: cmd(Ack), outcome: "acknowledged", state: Acknowledged, severity: Warning, count: 1, firing: 1},
			{cmd: cmd(Ack), err: "incident #1 is already acknowledged by alice", state: Acknowledged, severity: Warning, count: 1, firing: 1},
			{cmd: cmd(Unack), outcome: "unacknowledged", state: Triggered, severity: Warning, count: 1, firing: 1},
			{cmd: cmd(Snooze), outcome: "snoozed", state: Triggered, severity: Warning, count: 1, firing: 1},
			{cmd: cmd(Comment), outcome: "commented", state: Triggered, severity: Warning, count: 1, firing: 1},
			{cmd: cmd(Close), outcome: "resolved", state: Resolved, severity: Warning, count: 1},
			{cmd: cmd(Close), err: "incident #1 is already resolved", state: Resolved, severity: Warning, count: 1},
			{cmd: cmd(Ack), err: "incident #1 is already resolved", state: Resolved, severity: Warning, count: 1},
			{cmd: cmd(Snooze), err: "incident #1 is already resolved", state: Resolved, severity: Warning, count: 1},
			{cmd: cmd(Comment), outcome: "commented", state: Resolved, severity: Warning, count: 1},
			// the alert was resolved with the incident: its late resolve is a no-op
			{ev: clear("a"), outcome: "ignored: alert a is already resolved", state: Resolved, severity: Warning, count: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := DefaultRules()
			g := &group{alerts: map[int64]map[string]*Alert{}, timeline: map[int64][]Entry{}}
			now := t0
			for i, s := range tt.steps {
				now = now.Add(s.after)
				var ch Change
				if s.ev != nil {
					if err := s.ev.Validate(Warning); err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					ch = r.ApplyEvent(g.view(s.ev), s.ev, now, "test")
				} else {
					var err error
					ch, err = r.ApplyCommand(g.incidents[len(g.incidents)-1], s.cmd, now)
					if s.err != "" {
						if err == nil || err.Error() != s.err || !errors.Is(err, ErrConflict) {
							t.Fatalf("step %d: error %v, want %q", i, err, s.err)
						}
					} else if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
				}
				if ch.Outcome != s.outcome && s.err == "" {
					t.Fatalf("step %d: outcome %q, want %q", i, ch.Outcome, s.outcome)
				}
				g.write(ch, now)
				if len(g.incidents) != s.count {
					t.Fatalf("step %d: %d incidents, want %d", i, len(g.incidents), s.count)
				}
				if s.count == 0 {
					continue
				}
				inc := g.incidents[len(g.incidents)-1]
				if inc.State != s.state || inc.Severity != s.severity || inc.FiringAlerts != s.firing {
					t.Fatalf("step %d: %s/%s/%d firing, want %s/%s/%d", i, inc.State, inc.Severity, inc.FiringAlerts, s.state, s.severity, s.firing)
				}
				n := 0
				for _, a := range g.alerts[inc.ID] {
					if a.Status == AlertFiring {
						n++
					}
				}
				if n != inc.FiringAlerts {
					t.Fatalf("step %d: counts %d firing alerts, holds %d", i, inc.FiringAlerts, n)
				}
				if inc.State == Resolved && (inc.ResolvedAt == nil || inc.SnoozedUntil != nil) {
					t.Fatalf("step %d: resolved incident with resolved_at %v snoozed_until %v", i, inc.ResolvedAt, inc.SnoozedUntil)
				}
			}
			for id, tl := range g.timeline {
				for _, e := range tl {
					if e.At.IsZero() || e.Kind == "" || e.Actor == "" || e.Origin == "" {
						t.Fatalf("incident %d: incomplete timeline entry %+v", id, e)
					}
				}
			}
		})
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

func TestSnoozeAndAckRecordWhoAndUntil(t *testing.T) {
	r := DefaultRules()
	inc := &Incident{ID: 3, State: Triggered}
	ch, err := r.ApplyCommand(inc, &Command{ID: "1", IncidentID: 3, Verb: Snooze, Actor: "bob", Origin: "cli", Duration: 90 * time.Minute}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := *ch.Incident.SnoozedUntil; !got.Equal(t0.Add(90 * time.Minute)) {
		t.Fatalf("snoozed until %v", got)
	}
	if inc.SnoozedUntil != nil {
		t.Fatal("ApplyCommand changed its input")
	}
	ch, _ = r.ApplyCommand(inc, &Command{ID: "2", IncidentID: 3, Verb: Ack, Actor: "bob", Origin: "cli"}, t0)
	if ch.Incident.AcknowledgedBy != "bob" || !ch.Incident.AcknowledgedAt.Equal(t0) || ch.Timeline[0].Actor != "bob" || ch.Timeline[0].Origin != "cli" {
		t.Fatalf("ack: %+v %+v", ch.Incident, ch.Timeline)
	}
	ch, _ = r.ApplyCommand(ch.Incident, &Command{ID: "3", IncidentID: 3, Verb: Close, Actor: "carol", Origin: "cli"}, t0)
	if ch.Incident.ResolvedBy != "carol" {
		t.Fatalf("resolved by %q", ch.Incident.ResolvedBy)
	}
	ch = r.ApplyEvent(View{Incident: ch.Incident}, &Event{ID: "e", Source: "api", Action: Trigger, DedupKey: "k", GroupKey: "g", Summary: "s", Severity: Warning, OccurredAt: t0}, t0.Add(time.Minute), "test")
	if ch.Outcome != "reopened" || ch.Incident.ResolvedBy != "" {
		t.Fatalf("reopened: %q by %q", ch.Outcome, ch.Incident.ResolvedBy)
	}
}

func TestCommandValidation(t *testing.T) {
	r := DefaultRules()
	inc := &Incident{ID: 1, State: Triggered}
	for _, c := range []Command{
		{ID: "1", IncidentID: 1, Verb: Snooze, Actor: "a"},
		{ID: "1", IncidentID: 1, Verb: Snooze, Actor: "a", Duration: 30 * 24 * time.Hour},
		{ID: "1", IncidentID: 1, Verb: Comment, Actor: "a"},
		{ID: "1", IncidentID: 1, Verb: "explode", Actor: "a"},
		{ID: "1", IncidentID: 1, Verb: Ack},
		{ID: "", IncidentID: 1, Verb: Ack, Actor: "a"},
	} {
		_, err := r.ApplyCommand(inc, &c, t0)
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Errorf("%+v: error %v, want an InvalidError", c, err)
		}
	}
}

func TestEventValidation(t *testing.T) {
	ok := func() Event {
		return Event{ID: "1", Source: "script", Action: Trigger, DedupKey: "disk-full"}
	}
	e := ok()
	if err := e.Validate(Warning); err != nil {
		t.Fatal(err)
	}
	if e.GroupKey != "disk-full" || e.Severity != Warning || e.Summary != "disk-full" {
		t.Fatalf("defaults not filled: %+v", e)
	}
	for field, mutate := range map[string]func(*Event){
		"id":        func(e *Event) { e.ID = "" },
		"source":    func(e *Event) { e.Source = "Bad Source" },
		"action":    func(e *Event) { e.Action = "explode" },
		"dedup_key": func(e *Event) { e.DedupKey = "" },
		"severity":  func(e *Event) { e.Severity = "urgent" },
		"details":   func(e *Event) { e.Details = []byte("{nope") },
		"labels":    func(e *Event) { e.Labels = map[string]string{"": "x"} },
		"links[0]":  func(e *Event) { e.Links = []Link{{Text: "no href"}} },
	} {
		e := ok()
		mutate(&e)
		err := e.Validate(Warning)
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s: error %v", field, err)
		}
	}
	long := ok()
	long.Summary = strings.Repeat("é", MaxSummaryLen)
	if err := long.Validate(Warning); err != nil || len(long.Summary) > MaxSummaryLen {
		t.Fatalf("long summary: %v, %d bytes", err, len(long.Summary))
	}
}
