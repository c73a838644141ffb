package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
)

// TestTimers: escalation, the ack timeout (across a restart) and the end of
// a snooze, each a timer that goes off through the reducer and notifies.
func TestTimers(t *testing.T) {
	phone := ntfytest.New("")
	defer phone.Close()
	config := writeConfig(t, t.TempDir(), fmt.Sprintf(`incidents:
  ack_timeout: 3s
notify:
  ntfy:
%s  escalation:
    steps:
      - after: 1s
        ntfy_priority: 5
`, ntfyTarget("phone", phone.URL)))
	p := start(t, config)
	const seq = "opsbot-incident-1"
	waitMsg := func(what string, ok func(ntfytest.Message, int) bool) {
		t.Helper()
		waitFor(t, 15*time.Second, what, func() bool { m, n := phone.Latest(seq); return n > 0 && ok(m, n) })
	}
	timeline := func() string {
		inc, err := p.client().Incident(t.Context(), 1)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range inc.Timeline {
			kinds = append(kinds, e.Kind)
		}
		return strings.Join(kinds, " ")
	}
	if out, code := p.cli("event", "send", "--source", "backup", "--dedup-key", "restic", "--severity", "critical", "--summary", "backup failed"); code != 0 {
		t.Fatal(out)
	}
	// The first page (the escalation may follow it before a slow test looks).
	waitFor(t, 15*time.Second, "the first page", func() bool {
		for _, m := range phone.Messages() {
			if m.SequenceID == seq {
				return m.Priority == 4
			}
		}
		return false
	})
	waitMsg("the escalation", func(m ntfytest.Message, n int) bool {
		return m.Priority == 5 && strings.Contains(m.Message, "escalated (step 1)")
	})
	if out, code := p.cli("incidents", "ack", "1"); code != 0 {
		t.Fatal(out)
	}
	// A restart while the ack timeout runs: it still goes off.
	p.stop()
	p = start(t, config)
	waitFor(t, 15*time.Second, "the ack timeout", func() bool {
		inc, err := p.client().Incident(t.Context(), 1)
		return err == nil && inc.State == incidents.Triggered && strings.Contains(timeline(), "ack_timeout")
	})
	waitMsg("the page after the ack timeout", func(m ntfytest.Message, n int) bool {
		return m.Priority >= 4 && !strings.Contains(m.Message, "acknowledged")
	})

	// Snoozed: a new alert in the incident is quiet; the snooze's end pages.
	if out, code := p.cli("incidents", "snooze", "1", "6s"); code != 0 {
		t.Fatal(out)
	}
	// The snooze itself is shown; wait until it has been sent.
	p.settle(10 * time.Second)
	waitFor(t, 10*time.Second, "an empty outbox", func() bool { return pending(t, p) == 0 })
	_, before := phone.Latest(seq)
	p.cli("event", "send", "--source", "backup", "--dedup-key", "restic-2", "--group-key", "restic", "--summary", "second failure")
	p.settle(10 * time.Second)
	if n := pending(t, p); n != 0 {
		t.Fatalf("a change of a snoozed incident was queued: %d pending", n)
	}
	if _, n := phone.Latest(seq); n != before {
		t.Fatalf("a snoozed incident was notified: %d -> %d messages", before, n)
	}
	waitFor(t, 15*time.Second, "the snooze's end", func() bool { _, n := phone.Latest(seq); return n > before })
	if tl := timeline(); !strings.Contains(tl, "escalated") || !strings.Contains(tl, "snoozed") || !strings.Contains(tl, "snooze_ended") {
		t.Fatalf("timeline: %s", tl)
	}
}
