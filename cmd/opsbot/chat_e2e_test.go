package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opsbot/opsbot/notify/discord/discordtest"
)

// TestDiscordBot: the built binary's bot registers its slash commands
// over discordgo's real gateway session, and people answer an incident
// from Discord: a silence made in Debian's real Alertmanager and expired
// again, the Acknowledge button on the incident's message, which is then
// edited to say who; a refusal for someone without the grant; all of it in
// the audit log.
func TestDiscordBot(t *testing.T) {
	const guild, channel, alice, carol = "5000001", "6000001", "1000001", "1000003"
	srv := discordtest.New("bot-secret-token", "1", "x")
	defer srv.Close()
	amAddr := freePort(t)
	p := start(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`alertmanager:
  url: http://%s
notify:
  discord_api_url: %s
  discord:
    - name: ops-channel
      token: bot-secret-token
      channel_id: "%s"
chat:
  discord:
    token: bot-secret-token
    guild_ids: ["%s"]
    users:
      "%s": respond
`, amAddr, srv.URL, channel, guild, alice)))
	if err := srv.WaitConnected(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the slash commands", func() bool { cmds, _ := srv.Commands(guild); return len(cmds) == 11 })
	waitFor(t, 5*time.Second, "the registration in the log", func() bool {
		return strings.Contains(p.log(), `msg="discord: registered slash commands" guild=`+guild+" count=11 commands=\"/incidents /incident /ack")
	})
	am := startAlertmanagerAt(t, p.url, amAddr)
	started := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	postAlerts(t, am, []amAlert{
		{Labels: map[string]string{"alertname": "DiskFull", "host": "nas", "mount": "/srv"}, StartsAt: started},
		{Labels: map[string]string{"alertname": "DiskFull", "host": "nas", "mount": "/var"}, StartsAt: started},
	})
	waitFor(t, 30*time.Second, "the incident's message", func() bool {
		m := srv.Messages()
		return len(m) == 1 && len(m[0].Components) == 1 && strings.Contains(string(m[0].Embeds[0]), `"value":"2"`)
	})
	uAlice := discordtest.User{ID: alice, Name: "Alice"}
	ask := func(u discordtest.User, iid string) (string, bool) {
		t.Helper()
		r, err := srv.Response(iid, 10*time.Second, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.After > 3*time.Second {
			t.Fatalf("answered after %s", r.After)
		}
		return r.Final()
	}
	id := discordtest.Option{Name: "id", Type: 4, Value: 1}
	text, eph := ask(uAlice, srv.Command(uAlice, guild, channel, "silence", id,
		discordtest.Option{Name: "duration", Type: 3, Value: "2h"}, discordtest.Option{Name: "comment", Type: 3, Value: "disk swap"}))
	if eph || !strings.Contains(text, "incident #1 silenced") {
		t.Fatalf("/silence: %q %v", text, eph)
	}
	inc, err := p.client().Incident(t.Context(), 1)
	if err != nil || inc.SilenceID == "" {
		t.Fatalf("%+v %v", inc, err)
	}
	var sil struct {
		Status    struct{ State string }
		Comment   string
		CreatedBy string
		Matchers  []struct{ Name, Value string }
	}
	getJSON(t, am+"/api/v2/silence/"+inc.SilenceID, &sil)
	if sil.Status.State != "active" || sil.Comment != "disk swap" || sil.CreatedBy != "Alice (discord "+alice+")" ||
		len(sil.Matchers) != 2 || sil.Matchers[0].Name+"="+sil.Matchers[0].Value != "alertname=DiskFull" {
		t.Fatalf("silence %+v", sil)
	}
	var alerts []struct{ Status struct{ SilencedBy []string } }
	getJSON(t, am+"/api/v2/alerts", &alerts)
	if len(alerts) != 2 || len(alerts[0].Status.SilencedBy) != 1 || alerts[1].Status.SilencedBy[0] != inc.SilenceID {
		t.Fatalf("alerts %+v", alerts)
	}
	if text, _ = ask(uAlice, srv.Command(uAlice, guild, channel, "unsilence", id)); !strings.Contains(text, "incident #1 unsilenced") {
		t.Fatalf("/unsilence: %s", text)
	}
	getJSON(t, am+"/api/v2/silence/"+inc.SilenceID, &sil)
	if sil.Status.State != "expired" {
		t.Fatalf("after /unsilence: %+v", sil)
	}

	// Carol is not granted anything beyond read.
	uCarol := discordtest.User{ID: carol, Name: "Carol"}
	if text, eph = ask(uCarol, srv.Press(uCarol, guild, channel, "opsbot:ack:1")); !eph || !strings.Contains(text, "may not respond") {
		t.Fatalf("carol's button: %q %v", text, eph)
	}
	if text, eph = ask(uAlice, srv.Press(uAlice, guild, channel, "opsbot:ack:1")); !eph || !strings.Contains(text, "incident #1 acknowledged") {
		t.Fatalf("alice's button: %q %v", text, eph)
	}
	waitFor(t, 10*time.Second, "the message to say who acknowledged", func() bool {
		m := srv.Messages()
		return len(m) == 1 && strings.Contains(string(m[0].Embeds[0]), `acknowledged by \u003c@`+alice+`\u003e`)
	})
	out, code := p.cli("audit")
	if code != 0 || !contains(out, "Alice (discord "+alice+")", "incident silence", "incident unsilence", "Carol (discord "+carol+")", "discord") {
		t.Fatalf("audit (%d): %s", code, out)
	}

	// A clean stop: the bot closes the gateway before the reducer drains.
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	log := p.log()
	if i, j := strings.Index(log, "discord: bot stopped"), strings.Index(log, "reducer drained"); i < 0 || j < i {
		t.Fatalf("shutdown order:\n%s", log)
	}
	if strings.Contains(log, "bot-secret-token") {
		t.Fatal("the bot token is in the log")
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
