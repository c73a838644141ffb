package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
)

// TestStorm: past the threshold, incidents keep opening but one digest is
// shown instead of them, and it resolves when the storm passes.
func TestStorm(t *testing.T) {
	phone := ntfytest.New("")
	defer phone.Close()
	p := start(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`incidents:
  storm_opens: 3
  storm_window: 3s
notify:
  ntfy:
%s`, ntfyTarget("phone", phone.URL))))
	// Ten groups at once, as when a switch dies.
	for i := range 10 {
		body := fmt.Sprintf(`{"id":"s%d","source":"script","action":"trigger","dedup_key":"host-%d","severity":"critical","summary":"host-%d unreachable"}`, i, i, i)
		if code, err := p.post("/api/v1/events", []byte(body)); err != nil || code != 202 {
			t.Fatalf("%d %v", code, err)
		}
	}
	p.settle(10 * time.Second)
	all := p.all()
	var digest *incidents.Incident
	individual := 0
	for _, i := range all {
		if i.Source == "opsbot" {
			digest = i
		} else {
			individual++
		}
	}
	if individual != 10 || digest == nil || digest.FiringAlerts != 7 || !strings.HasPrefix(digest.Title, "Alert storm") {
		t.Fatalf("%d incidents, digest %+v", individual, digest)
	}
	waitFor(t, 10*time.Second, "an empty outbox", func() bool { return pending(t, p) == 0 })
	pages := map[string]int{}
	for _, m := range phone.Messages() {
		pages[m.SequenceID]++
	}
	// Three pages before the storm, and the digest instead of the other seven.
	if len(pages) != 4 || pages[fmt.Sprintf("opsbot-incident-%d", digest.ID)] == 0 {
		t.Fatalf("pages %v", pages)
	}
	last, _ := phone.Latest(fmt.Sprintf("opsbot-incident-%d", digest.ID))
	if !strings.Contains(last.Message, "7 alert(s) firing") {
		t.Fatalf("digest message: %+v", last)
	}
	waitFor(t, 15*time.Second, "the storm to pass", func() bool {
		d, err := p.client().Incident(t.Context(), digest.ID)
		return err == nil && d.State == incidents.Resolved
	})
	// The incidents are all still there, open.
	open, err := p.client().ListIncidents(t.Context(), "open", 100, 0)
	if err != nil || len(open.Incidents) != 10 {
		t.Fatalf("%d open: %v", len(open.Incidents), err)
	}
	// After the storm, a new incident pages again.
	p.cli("event", "send", "--source", "script", "--dedup-key", "late", "--summary", "late one")
	waitFor(t, 10*time.Second, "a page after the storm", func() bool {
		for _, m := range phone.Messages() {
			if strings.Contains(m.Title, "late one") {
				return true
			}
		}
		return false
	})
}
