package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
)

// TestRoutes: critical incidents reach the phone, the rest the ops topic;
// an incident that becomes critical reaches the phone too, and ops goes on
// getting its updates.
func TestRoutes(t *testing.T) {
	phone, ops := ntfytest.New(""), ntfytest.New("")
	defer phone.Close()
	defer ops.Close()
	p := start(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`notify:
  ntfy:
%s%s  routes:
    - severities: [critical]
      targets: [phone]
  default_targets: [ops]
`, ntfyTarget("phone", phone.URL), ntfyTarget("ops", ops.URL))))
	send := func(args ...string) {
		t.Helper()
		if out, code := p.cli(append([]string{"event", "send", "--source", "script"}, args...)...); code != 0 {
			t.Fatalf("%s", out)
		}
	}
	count := func(srv *ntfytest.Server, seq string) int { _, n := srv.Latest(seq); return n }
	send("--dedup-key", "db", "--severity", "critical", "--summary", "database down")
	send("--dedup-key", "disk", "--group-key", "nas", "--severity", "warning", "--summary", "disk 85%")
	waitFor(t, 10*time.Second, "the first notifications", func() bool {
		return count(phone, "opsbot-incident-1") == 1 && count(ops, "opsbot-incident-2") == 1
	})
	if count(ops, "opsbot-incident-1") != 0 || count(phone, "opsbot-incident-2") != 0 {
		t.Fatalf("misrouted: phone %+v ops %+v", phone.Messages(), ops.Messages())
	}
	// The nas incident turns critical.
	send("--dedup-key", "disk2", "--group-key", "nas", "--severity", "critical", "--summary", "disk 99%")
	waitFor(t, 10*time.Second, "the escalated incident on both", func() bool {
		m, n := phone.Latest("opsbot-incident-2")
		return n == 1 && m.Priority == 4 && count(ops, "opsbot-incident-2") == 2
	})
}
