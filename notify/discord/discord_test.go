package discord

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify"
	"github.com/opsbot/opsbot/notify/discord/discordtest"
	"github.com/opsbot/opsbot/store"
)

func incident(state incidents.State) *incidents.Incident {
	return &incidents.Incident{ID: 3, State: state, Severity: incidents.Critical, Title: "nas is down", Source: "uptime-kuma",
		FiringAlerts: 1, AcknowledgedBy: "alice", UpdatedAt: time.Now(),
		Alerts: []incidents.Alert{{Status: incidents.AlertFiring, Summary: "nas ping fails"}}}
}

func TestDiscord(t *testing.T) {
	srv := discordtest.New("bot-token", "111", "hook-token")
	defer srv.Close()
	PointAt(srv.URL)
	st, err := store.Open(filepath.Join(t.TempDir(), "opsbot.db"), store.Options{Rules: incidents.DefaultRules()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The refs table needs the incident to exist.
	ev := &incidents.Event{ID: "e", Source: "test", Action: incidents.Trigger, DedupKey: "k"}
	ev.Validate(incidents.Warning)
	for range 3 {
		st.Apply(context.Background(), []incidents.Envelope{{Event: ev, At: time.Now()}})
		ev.ID, ev.DedupKey = ev.ID+"x", ev.DedupKey+"x"
		ev.GroupKey = ev.DedupKey
	}
	session, _ := discordgo.New("Bot bot-token")
	session.Client = srv.Client()
	ctx := context.Background()

	bot := &Notifier{Target: "ops", Session: session, ChannelID: "42", Refs: st}
	for _, s := range []incidents.State{incidents.Triggered, incidents.Acknowledged, incidents.Resolved} {
		if err := bot.Notify(ctx, incident(s)); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].Edits != 2 || msgs[0].ChannelID != "42" || len(msgs[0].Components) != 0 ||
		!strings.Contains(string(msgs[0].Embeds[0]), `"color":`+strconv.Itoa(green)) {
		t.Fatalf("bot: %+v", msgs)
	}
	// Triggered has three buttons carrying the incident.
	srv.Delete(msgs[0].ID)
	if err := bot.Notify(ctx, incident(incidents.Triggered)); err != nil {
		t.Fatal(err)
	}
	msgs = srv.Messages()
	if len(msgs) != 1 || len(msgs[0].Components) != 1 || !strings.Contains(string(msgs[0].Components[0]), `"custom_id":"opsbot:ack:3"`) ||
		!strings.Contains(string(msgs[0].Components[0]), `opsbot:snooze:3`) {
		t.Fatalf("reposted after deletion: %+v", msgs)
	}

	// Escalation step 1 mentions the on-call role once, in a message of
	// its own (Discord does not notify on edits).
	bot.Mentions = []string{"<@&777>"}
	esc := incident(incidents.Triggered)
	esc.EscalationStep = 1
	for range 2 {
		if err := bot.Notify(ctx, esc); err != nil {
			t.Fatal(err)
		}
	}
	msgs = srv.Messages()
	mentions := 0
	for _, m := range msgs {
		if strings.HasPrefix(m.Content, "<@&777> incident #3 is not acknowledged (escalation step 1)") {
			mentions++
		}
	}
	if mentions != 1 || len(msgs) != 2 {
		t.Fatalf("%d mentions in %+v", mentions, msgs)
	}
	bot.Mentions = nil

	id, token, err := ParseWebhook(srv.URL + "/api/webhooks/111/hook-token")
	if err != nil || id != "111" || token != "hook-token" {
		t.Fatalf("%s %s %v", id, token, err)
	}
	hook := &Notifier{Target: "hook", Session: session, WebhookID: id, WebhookToken: token, Refs: st}
	if err := hook.Notify(ctx, incident(incidents.Triggered)); err != nil {
		t.Fatal(err)
	}
	if err := hook.Notify(ctx, incident(incidents.Resolved)); err != nil {
		t.Fatal(err)
	}
	if msgs = srv.Messages(); len(msgs) != 3 || msgs[2].Edits != 1 || len(msgs[2].Components) != 0 {
		t.Fatalf("webhook: %+v", msgs)
	}
	// A wrong token is a permanent failure.
	wrong, _ := discordgo.New("Bot nope")
	wrong.Client = srv.Client()
	var perm *notify.PermanentError
	if err := (&Notifier{Target: "x", Session: wrong, ChannelID: "42", Refs: st}).Notify(ctx, incident(incidents.Triggered)); !errors.As(err, &perm) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, _, err := ParseWebhook("https://example.org/hooks/x"); err == nil {
		t.Fatal("not a webhook URL parsed")
	}
}
