package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
)

// press presses a notification button the way ntfy's app does: a POST to
// its URL, with no bearer token.
func press(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNtfy(t *testing.T) {
	srv := ntfytest.New("tk_phone")
	defer srv.Close()
	dir := t.TempDir()
	addr := freePort(t)
	config := writeConfig(t, dir, fmt.Sprintf(`notify:
  min_backoff: 100ms
  max_backoff: 400ms
  ntfy:
    - name: phone
      url: %s
      topic: opsbot-test
      token: tk_phone
      rate_per_minute: 600
      burst: 20
`, srv.URL))
	b, _ := os.ReadFile(config)
	os.WriteFile(config, []byte(strings.Replace(string(b), "listen: 127.0.0.1:0\n", "listen: "+addr+"\n  public_url: http://"+addr+"\n", 1)), 0o600)
	p := start(t, config)

	latest := func(seq string, n int) ntfytest.Message {
		t.Helper()
		var m ntfytest.Message
		waitFor(t, 10*time.Second, fmt.Sprintf("%d messages for %s", n, seq), func() bool {
			var got int
			m, got = srv.Latest(seq)
			return got >= n
		})
		return m
	}
	if code, err := p.post("/hooks/alertmanager", sourcePayload(t, "alertmanager", "firing.json")); err != nil || code != 202 {
		t.Fatalf("%d %v", code, err)
	}
	m := latest("opsbot-incident-1", 1)
	if m.Priority != 4 || m.Title != "#1 git.example.org is unreachable" || len(m.Actions) != 3 || m.Actions[0].Label != "Acknowledge" ||
		!strings.HasPrefix(m.Actions[0].URL, "http://"+addr+"/actions/") || m.Click != "http://"+addr+"/api/v1/incidents/1" {
		t.Fatalf("first message: %+v", m)
	}
	ack := m.Actions[0].URL
	// A tampered token and one signed with another key change nothing.
	if code, out := press(t, ack[:len(ack)-3]+"abc"); code != 403 || !strings.Contains(out, "not valid") {
		t.Fatalf("tampered: %d %s", code, out)
	}
	if code, _ := press(t, "http://"+addr+"/actions/MS5hY2suOTk5OTk5OTk5OS5hYmM.c2lnbmF0dXJl"); code != 403 {
		t.Fatalf("forged: %d", code)
	}
	if code, out := press(t, ack); code != 200 || !strings.Contains(out, "acknowledged") {
		t.Fatalf("acknowledge: %d %s", code, out)
	}
	if code, out := press(t, ack); code != 409 || !strings.Contains(out, "already used") {
		t.Fatalf("replayed: %d %s", code, out)
	}
	inc, err := p.client().Incident(t.Context(), 1)
	if err != nil || inc.State != incidents.Acknowledged || inc.AcknowledgedBy != "notification button" {
		t.Fatalf("%+v %v", inc, err)
	}
	m = latest("opsbot-incident-1", 2)
	if len(m.Actions) != 2 || m.Actions[0].Label != "Resolve" || m.Priority != 2 {
		t.Fatalf("after ack: %+v", m)
	}
	// Resolved: replaced, then cleared.
	p.post("/hooks/alertmanager", sourcePayload(t, "alertmanager", "resolved.json"))
	waitFor(t, 10*time.Second, "the clear", func() bool { return len(srv.Clears()) == 1 })
	if m, _ = srv.Latest("opsbot-incident-1"); m.Priority != 1 || len(m.Actions) != 0 {
		t.Fatalf("resolved: %+v", m)
	}
	if code, out := press(t, m0(t, srv).Actions[1].URL); code != 409 || !strings.Contains(out, "already resolved") {
		t.Fatalf("resolve button of a resolved incident: %d %s", code, out)
	}

	// ntfy down, opsbot restarted during backoff, ntfy back: each change
	// arrives once.
	srv.SetDown(true)
	p.post("/hooks/drift", sourcePayload(t, "drift", "drifted.json"))
	waitFor(t, 10*time.Second, "failed attempts", func() bool {
		out, _ := p.cli("incidents", "list")
		return strings.Contains(out, "nas has drifted") && countAttempts(t, p) >= 2
	})
	p.stop()
	p = start(t, config)
	srv.SetDown(false)
	latest("opsbot-incident-2", 1)
	// With nothing pending in the outbox, nothing more will be sent.
	waitFor(t, 10*time.Second, "an empty outbox", func() bool { return pending(t, p) == 0 })
	if _, n := srv.Latest("opsbot-incident-2"); n != 1 {
		t.Fatalf("incident 2 was notified %d times", n)
	}
	if _, n := srv.Latest("opsbot-incident-1"); n != 3 {
		t.Fatalf("incident 1 was notified %d times, want 3 (triggered, acknowledged, resolved)", n)
	}
	out, _ := p.cli("incidents", "show", "2", "--json")
	if !strings.Contains(out, `"state": "triggered"`) {
		t.Fatalf("%s", out)
	}
}

// m0 is the first message sent.
func m0(t *testing.T, srv *ntfytest.Server) ntfytest.Message {
	t.Helper()
	msgs := srv.Messages()
	if len(msgs) == 0 {
		t.Fatal("no messages")
	}
	return msgs[0]
}

// pending counts the notifications still to send.
func pending(t *testing.T, p *proc) int {
	req, _ := http.NewRequest("GET", p.url+"/api/v1/notifications?state=pending", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var out struct{ Notifications []any }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return -1
	}
	return len(out.Notifications)
}

func countAttempts(t *testing.T, p *proc) int {
	req, _ := http.NewRequest("GET", p.url+"/api/v1/notifications?state=pending", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var n int
	for _, part := range strings.Split(string(b), `"attempts": `)[1:] {
		var a int
		fmt.Sscanf(part, "%d", &a)
		n = max(n, a)
	}
	return n
}
