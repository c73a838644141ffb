package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/notify/discord/discordtest"
)

// TestDiscord: discordgo, inside the built binary, posts and edits
// messages on a local server speaking Discord's REST API.
func TestDiscord(t *testing.T) {
	srv := discordtest.New("bot-secret-token", "5550001", "webhook-secret")
	defer srv.Close()
	p := start(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`notify:
  discord_api_url: %s
  discord:
    - name: ops-channel
      token: bot-secret-token
      channel_id: "424242"
      rate_per_minute: 600
      burst: 20
    - name: ops-webhook
      webhook_url: %s/api/webhooks/5550001/webhook-secret
      rate_per_minute: 600
      burst: 20
`, srv.URL, srv.URL)))
	if code, err := p.post("/hooks/alertmanager", sourcePayload(t, "alertmanager", "firing.json")); err != nil || code != 202 {
		t.Fatalf("%d %v", code, err)
	}
	waitFor(t, 10*time.Second, "two messages", func() bool { return len(srv.Messages()) == 2 })
	var bot, hook discordtest.Message
	for _, m := range srv.Messages() {
		if m.ChannelID == "424242" {
			bot = m
		} else {
			hook = m
		}
	}
	if len(bot.Components) != 1 || !strings.Contains(string(bot.Components[0]), `"custom_id":"opsbot:ack:1"`) ||
		!strings.Contains(string(bot.Embeds[0]), "#1 git.example.org is unreachable") || len(hook.Components) != 0 {
		t.Fatalf("bot %+v\nwebhook %+v", bot, hook)
	}
	out, code := p.cli("incidents", "ack", "1")
	if code != 0 {
		t.Fatalf("%s", out)
	}
	p.post("/hooks/alertmanager", sourcePayload(t, "alertmanager", "resolved.json"))
	waitFor(t, 10*time.Second, "both messages edited to resolved", func() bool {
		msgs := srv.Messages()
		if len(msgs) != 2 {
			return false
		}
		for _, m := range msgs {
			if !strings.Contains(string(m.Embeds[0]), `"value":"resolved"`) || len(m.Components) != 0 {
				return false
			}
		}
		return true
	})
	if msgs := srv.Messages(); len(msgs) != 2 {
		t.Fatalf("a change posted a new message: %+v", msgs)
	}
	if strings.Contains(p.log(), "bot-secret-token") || strings.Contains(p.log(), "webhook-secret") {
		t.Fatalf("a secret is in the log:\n%s", p.log())
	}
}
