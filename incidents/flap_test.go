package incidents

import (
	"testing"
	"time"
)

func TestFlapping(t *testing.T) {
	r := DefaultRules()
	r.FlapChanges, r.FlapWindow = 3, 10*time.Minute
	g := &group{alerts: map[int64]map[string]*Alert{}, timeline: map[int64][]Entry{}}
	now := t0
	step := func(after time.Duration, ev *Event) Change {
		t.Helper()
		now = now.Add(after)
		if err := ev.Validate(Warning); err != nil {
			t.Fatal(err)
		}
		ch := r.ApplyEvent(g.view(ev), ev, now, "test")
		g.write(ch, now)
		return ch
	}
	inc := func() *Incident { return g.incidents[len(g.incidents)-1] }
	step(0, fire("a", Critical))
	for i, want := range []struct {
		outcome  string
		flapping bool
		quiet    bool
	}{
		{"resolved", false, false},
		{"reopened", false, false},
		{"resolved", false, false},
		{"reopened", true, false}, // the 4th change within 10m: flapping, told once
		{"resolved", true, true},
		{"reopened", true, true},
	} {
		ev := fire("a", Critical)
		if i%2 == 0 {
			ev = clear("a")
		}
		ch := step(time.Minute, ev)
		if ch.Outcome != want.outcome || inc().Flapping != want.flapping || ch.Quiet != want.quiet {
			t.Fatalf("change %d: %s flapping=%v quiet=%v, want %+v", i+1, ch.Outcome, inc().Flapping, ch.Quiet, want)
		}
	}
	// A window after it was last told, the next change is told again.
	ch := step(10*time.Minute, clear("a"))
	if ch.Quiet || !inc().Flapping {
		t.Fatalf("after a window: quiet=%v flapping=%v", ch.Quiet, inc().Flapping)
	}
	var settle time.Time
	for _, tc := range ch.Timers {
		if tc.Kind == FlapSettle {
			settle = tc.DueAt
		}
	}
	if !settle.Equal(now.Add(10 * time.Minute)) {
		t.Fatalf("settle timer %v", ch.Timers)
	}
	sch := r.ApplyTimer(inc(), FlapSettle, settle)
	if sch.Incident == nil || sch.Incident.Flapping || sch.Outcome != "settled" {
		t.Fatalf("settle: %+v", sch)
	}
}
