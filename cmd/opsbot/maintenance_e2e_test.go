package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
)

// TestMaintenance: a window holds the notifications of what it matches;
// the incidents are recorded, and what is open when it ends is notified.
func TestMaintenance(t *testing.T) {
	phone := ntfytest.New("")
	defer phone.Close()
	p := start(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`notify:
  ntfy:
%s`, ntfyTarget("phone", phone.URL))))
	count := func(id int) int { _, n := phone.Latest(fmt.Sprintf("opsbot-incident-%d", id)); return n }
	drift := func(host string) {
		t.Helper()
		if out, code := p.cli("event", "drift", "--host", host, "--drifted", "--what", "/etc changed"); code != 0 {
			t.Fatal(out)
		}
	}
	out, code := p.cli("maintenance", "start", "host=nas", "--for", "1h", "--comment", "disk swap")
	if code != 0 || !contains(out, "maintenance window #1 holds notifications for host=nas") {
		t.Fatalf("start (%d): %s", code, out)
	}
	drift("nas") // incident 1: held
	drift("pi")  // incident 2: not matched
	waitFor(t, 10*time.Second, "pi's notification", func() bool { return count(2) == 1 })
	p.settle(10 * time.Second)
	waitFor(t, 10*time.Second, "an empty outbox", func() bool { return pending(t, p) == 0 })
	if count(1) != 0 {
		t.Fatal("the window did not hold nas's notification")
	}
	if out, _ = p.cli("incidents", "show", "1"); !contains(out, "held", "maintenance window #1") {
		t.Fatalf("show 1:\n%s", out)
	}
	if out, _ = p.cli("maintenance", "list"); !contains(out, "#1", "host=nas", "disk swap") {
		t.Fatalf("list:\n%s", out)
	}
	if out, code = p.cli("maintenance", "end", "1"); code != 0 {
		t.Fatalf("end: %s", out)
	}
	waitFor(t, 10*time.Second, "nas notified when the window ended", func() bool { return count(1) == 1 })
	if out, _ = p.cli("incidents", "show", "1"); !contains(out, "released") {
		t.Fatalf("show 1 after the window:\n%s", out)
	}

	// A window that runs out by itself, on regex and source matchers.
	if out, code = p.cli("maintenance", "start", "source=drift", "host=~back.*", "--for", "5s"); code != 0 {
		t.Fatal(out)
	}
	drift("backup-1") // incident 3
	p.settle(10 * time.Second)
	if count(3) != 0 {
		t.Fatal("the second window did not hold backup-1")
	}
	waitFor(t, 15*time.Second, "backup-1 notified when its window ran out", func() bool { return count(3) == 1 })
	if out, code = p.cli("maintenance", "end", "99"); code != 1 || !strings.Contains(out, "does not exist") {
		t.Fatalf("end 99 (%d): %s", code, out)
	}
	if out, code = p.cli("maintenance", "start", "nonsense", "--for", "1h"); code != 1 || !strings.Contains(out, "matchers") {
		t.Fatalf("bad matcher (%d): %s", code, out)
	}
}
