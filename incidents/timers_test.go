package incidents

import (
	"testing"
	"time"
)

func TestTimers(t *testing.T) {
	r := DefaultRules()
	r.Escalation, r.AckTimeout = []time.Duration{10 * time.Minute, 20 * time.Minute}, time.Hour
	timer := func(ch Change, k TimerKind) (time.Time, bool) {
		for _, tc := range ch.Timers {
			if tc.Kind == k {
				return tc.DueAt, true
			}
		}
		return time.Time{}, false
	}
	ev := &Event{ID: "1", Source: "s", Action: Trigger, DedupKey: "a"}
	ev.Validate(Critical)
	ch := r.ApplyEvent(View{}, ev, t0, "test")
	inc := ch.Incident
	inc.ID = 1
	if due, ok := timer(ch, Escalate); !ok || !due.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("opened: %+v", ch.Timers)
	}
	fire := func(k TimerKind, at time.Time) Change {
		t.Helper()
		ch, err := r.ApplyCommand(inc, &Command{ID: "f", IncidentID: 1, Verb: Fire, Actor: "opsbot", Timer: k}, at)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Incident != nil {
			inc = ch.Incident
		}
		return ch
	}
	cmd := func(v Verb, at time.Time) Change {
		t.Helper()
		ch, err := r.ApplyCommand(inc, &Command{ID: "c", IncidentID: 1, Verb: v, Actor: "alice", Duration: time.Hour}, at)
		if err != nil {
			t.Fatal(err)
		}
		inc = ch.Incident
		return ch
	}
	ch = fire(Escalate, t0.Add(10*time.Minute))
	if due, ok := timer(ch, Escalate); inc.EscalationStep != 1 || !ok || !due.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("step 1: %d %+v", inc.EscalationStep, ch.Timers)
	}
	ch = fire(Escalate, t0.Add(30*time.Minute))
	if _, ok := timer(ch, Escalate); inc.EscalationStep != 2 || ok {
		t.Fatalf("step 2 is the last: %d %+v", inc.EscalationStep, ch.Timers)
	}
	ch = cmd(Ack, t0.Add(40*time.Minute))
	if due, ok := timer(ch, AckTimeout); !ok || !due.Equal(t0.Add(100*time.Minute)) {
		t.Fatalf("ack: %+v", ch.Timers)
	}
	if ch = fire(Escalate, t0.Add(50*time.Minute)); ch.Incident != nil {
		t.Fatalf("escalating an acknowledged incident: %+v", ch)
	}
	ch = fire(AckTimeout, t0.Add(100*time.Minute))
	if inc.State != Triggered || inc.EscalationStep != 0 || inc.AcknowledgedBy != "" || ch.Outcome != "ack timed out" {
		t.Fatalf("ack timeout: %+v %+v", inc, ch)
	}
	if due, ok := timer(ch, Escalate); !ok || !due.Equal(t0.Add(110*time.Minute)) {
		t.Fatalf("escalation after the ack timeout: %+v", ch.Timers)
	}
	ch = cmd(Snooze, t0.Add(2*time.Hour))
	if due, ok := timer(ch, SnoozeEnd); !ok || !due.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("snooze: %+v", ch.Timers)
	}
	if due, ok := timer(ch, Escalate); !ok || !due.IsZero() {
		t.Fatalf("snooze should clear escalation: %+v", ch.Timers)
	}
	// While snoozed, changes are quiet.
	ev2 := &Event{ID: "2", Source: "s", Action: Trigger, DedupKey: "b"}
	ev2.Validate(Warning)
	if ch = r.ApplyEvent(View{Incident: inc}, ev2, t0.Add(150*time.Minute), "test"); !ch.Quiet {
		t.Fatal("a change of a snoozed incident was not quiet")
	}
	ch = fire(SnoozeEnd, t0.Add(3*time.Hour))
	if inc.SnoozedUntil != nil || ch.Quiet || ch.Outcome != "snooze ended" {
		t.Fatalf("snooze end: %+v %+v", inc, ch)
	}
	if _, ok := timer(ch, Escalate); !ok {
		t.Fatalf("escalation resumes after the snooze: %+v", ch.Timers)
	}
	ch = cmd(Close, t0.Add(4*time.Hour))
	if len(ch.Timers) != 3 {
		t.Fatalf("resolve clears every timer: %+v", ch.Timers)
	}
	for _, tc := range ch.Timers {
		if !tc.DueAt.IsZero() {
			t.Fatalf("resolve set a timer: %+v", tc)
		}
	}
}
