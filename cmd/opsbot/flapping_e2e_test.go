package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
)

// TestFlapping: a check that keeps bouncing is told once as flapping, then
// kept quiet, and told again when it settles.
func TestFlapping(t *testing.T) {
	phone := ntfytest.New("")
	defer phone.Close()
	p := start(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`incidents:
  flap_changes: 3
  flap_window: 8s
notify:
  ntfy:
%s`, ntfyTarget("phone", phone.URL))))
	send := func(action string) {
		t.Helper()
		if out, code := p.cli("event", "send", "--source", "gatus", "--dedup-key", "web", "--action", action, "--summary", "web check"); code != 0 {
			t.Fatal(out)
		}
		p.settle(10 * time.Second)
		waitFor(t, 10*time.Second, "an empty outbox", func() bool { return pending(t, p) == 0 })
	}
	messages := func() []ntfytest.Message {
		var out []ntfytest.Message
		for _, m := range phone.Messages() {
			if m.SequenceID == "opsbot-incident-1" {
				out = append(out, m)
			}
		}
		return out
	}
	// Opened, then four changes: the fourth makes it flapping.
	for _, a := range []string{"trigger", "resolve", "trigger", "resolve", "trigger"} {
		send(a)
	}
	msgs := messages()
	if len(msgs) != 5 || !strings.Contains(msgs[4].Message, "FLAPPING") {
		t.Fatalf("%d messages, last %+v", len(msgs), msgs[len(msgs)-1])
	}
	// Further bouncing within the window is quiet.
	send("resolve")
	send("trigger")
	if n := len(messages()); n != 5 {
		t.Fatalf("flapping changes were told: %d messages", n)
	}
	waitFor(t, 25*time.Second, "the settled notification", func() bool {
		m := messages()
		return len(m) == 6 && !strings.Contains(m[5].Message, "FLAPPING")
	})
	if out, _ := p.cli("incidents", "show", "1"); !contains(out, "flapping", "settled") {
		t.Fatalf("%s", out)
	}
}
