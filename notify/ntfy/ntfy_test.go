package ntfy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify"
	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
)

type signer struct{}

func (signer) Sign(id int64, v incidents.Verb) string { return "tok-" + string(v) }

func incident(state incidents.State) *incidents.Incident {
	inc := &incidents.Incident{ID: 7, State: state, Severity: incidents.Critical, Title: "git is down", FiringAlerts: 2, AcknowledgedBy: "alice"}
	inc.Alerts = []incidents.Alert{{Status: incidents.AlertFiring, Summary: "git-1 down"}, {Status: incidents.AlertFiring, Summary: "git-2 down"}, {Status: incidents.AlertResolved, Summary: "old"}}
	return inc
}

func TestRender(t *testing.T) {
	n := &Notifier{Topic: "ops", PublicURL: "https://opsbot.example.org/", Signer: signer{}}
	m := n.Render(incident(incidents.Triggered))
	if m.Title != "#7 git is down" || m.Priority != 4 || m.SequenceID != "opsbot-incident-7" || m.Click != "https://opsbot.example.org/api/v1/incidents/7" ||
		!strings.Contains(m.Message, "git-2 down") || strings.Contains(m.Message, "old") || len(m.Actions) != 3 ||
		m.Actions[0].Label != "Acknowledge" || m.Actions[0].URL != "https://opsbot.example.org/actions/tok-ack" || m.Actions[0].Method != "POST" {
		t.Fatalf("triggered: %+v", m)
	}
	m = n.Render(incident(incidents.Acknowledged))
	if len(m.Actions) != 2 || m.Actions[0].Label != "Resolve" || m.Actions[1].URL != "https://opsbot.example.org/actions/tok-snooze" || !strings.Contains(m.Message, "alice") {
		t.Fatalf("acknowledged: %+v", m)
	}
	if m = n.Render(incident(incidents.Resolved)); len(m.Actions) != 0 || m.Priority != 1 {
		t.Fatalf("resolved: %+v", m)
	}
	if m = (&Notifier{Topic: "ops", Signer: signer{}}).Render(incident(incidents.Triggered)); len(m.Actions) != 0 || m.Click != "" {
		t.Fatalf("no public URL: %+v", m)
	}
	big := incident(incidents.Triggered)
	for i := range 200 {
		big.Alerts = append(big.Alerts, incidents.Alert{Status: incidents.AlertFiring, Summary: strings.Repeat("x", 100) + string(rune('a'+i%26))})
	}
	big.FiringAlerts = 202
	if m = n.Render(big); len(m.Message) > MaxMessage || !strings.Contains(m.Message, "and 192 more") {
		t.Fatalf("big: %d bytes", len(m.Message))
	}
}

func TestNotify(t *testing.T) {
	srv := ntfytest.New("tk_secret")
	defer srv.Close()
	ctx := context.Background()
	n := &Notifier{URL: srv.URL, Topic: "ops", Token: "tk_secret", PublicURL: "https://opsbot.example.org", Signer: signer{}, Client: srv.Client()}
	if err := n.Notify(ctx, incident(incidents.Triggered)); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, incident(incidents.Resolved)); err != nil {
		t.Fatal(err)
	}
	if last, count := srv.Latest("opsbot-incident-7"); count != 2 || last.Priority != 1 {
		t.Fatalf("%d messages, last %+v", count, last)
	}
	if c := srv.Clears(); len(c) != 1 || c[0] != "ops/opsbot-incident-7" {
		t.Fatalf("clears %v", c)
	}
	// An old server: no clear endpoint, and that is fine.
	srv.SetOld(true)
	if err := n.Notify(ctx, incident(incidents.Resolved)); err != nil {
		t.Fatalf("old server: %v", err)
	}
	srv.SetOld(false)
	// Down: an error to retry. Wrong token or topic: given up at once.
	srv.SetDown(true)
	var perm *notify.PermanentError
	if err := n.Notify(ctx, incident(incidents.Triggered)); err == nil || errors.As(err, &perm) {
		t.Fatalf("down: %v", err)
	}
	srv.SetDown(false)
	bad := *n
	bad.Token = "tk_wrong"
	if err := bad.Notify(ctx, incident(incidents.Triggered)); !errors.As(err, &perm) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	basic := *n
	basic.Token, basic.Username, basic.Password = "", "u", "p"
	if err := basic.Notify(ctx, incident(incidents.Triggered)); !errors.As(err, &perm) {
		t.Fatalf("basic auth against a token server: %v", err)
	}
	slow := &Notifier{URL: "http://127.0.0.1:1", Topic: "ops", Client: &http.Client{Timeout: time.Second}}
	if err := slow.Notify(ctx, incident(incidents.Triggered)); err == nil || errors.As(err, &perm) {
		t.Fatalf("unreachable: %v", err)
	}
}
