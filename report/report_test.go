package report_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/internal/flaketest"
	"github.com/opsbot/opsbot/internal/spinetest"
	"github.com/opsbot/opsbot/notify/discord"
	"github.com/opsbot/opsbot/notify/discord/discordtest"
	"github.com/opsbot/opsbot/notify/ntfy"
	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
	"github.com/opsbot/opsbot/report"
	"github.com/opsbot/opsbot/upgrade"
)

// TestUpgradeReport: the report holds the upgrade plan (real nix), the
// outdated images, the image updates since the last report and the
// drifting hosts; it is stored and posted to Discord (the whole report
// attached) and ntfy (with a link). A failing report opens an incident,
// and the next good one resolves it.
func TestUpgradeReport(t *testing.T) {
	flaketest.Nix(t)
	r := flaketest.New(t)
	r.Bump(t)
	sp := spinetest.Start(t, nil)
	st := sp.Store
	ctx := context.Background()
	events := []*incidents.Event{
		{ID: "vc-1", Source: "version-checker", Action: incidents.Trigger, DedupKey: "img:grafana", GroupKey: "version-checker:monitoring", Summary: "grafana 10.1 is outdated: 11.0 is out"},
		{ID: "drift-1", Source: "drift", Action: incidents.Trigger, DedupKey: "drift:nas:revision", GroupKey: "drift:nas", Summary: "nas runs 3f2a9c1e, 2 commits behind main"},
		{ID: "diun-1", Source: "diun", Action: incidents.Record, DedupKey: "diun:nginx", Summary: "nginx:1.27 has a new image"},
	}
	for _, ev := range events {
		if err := ev.Validate(incidents.Warning); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Apply(ctx, []incidents.Envelope{{Event: ev, At: time.Now()}}); err != nil {
			t.Fatal(err)
		}
	}
	fake := discordtest.New("bot-token", "1", "x")
	defer fake.Close()
	discord.PointAt(fake.URL)
	session, _ := discordgo.New("Bot bot-token")
	session.Client = fake.Client()
	phone := ntfytest.New("")
	defer phone.Close()

	dir := t.TempDir()
	planner := &upgrade.Planner{Repo: &deploy.Repo{URL: r.Host, Branch: "main", Dir: filepath.Join(dir, "repo"), Timeout: time.Minute},
		WorkDir: dir, Build: upgrade.DefaultBuild, Hosts: []string{"web"}, Timeout: 5 * time.Minute, Log: sp.Log, Now: time.Now}
	plans := &upgrade.Service{Planner: planner, Store: st, Log: sp.Log}
	if err := plans.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer plans.Stop()
	rep := &report.Reporter{
		Planner: plans, Sources: st, Store: st, Publisher: sp.Bus, PublicURL: "https://opsbot.example.org", Log: sp.Log, Now: time.Now,
		Posters: map[string]report.Poster{"ops-channel": &discord.Notifier{Target: "ops-channel", Session: session, ChannelID: "42", Refs: st}},
		Pushers: map[string]report.Pusher{"phone": &ntfy.Notifier{URL: phone.URL, Topic: "ops", Client: phone.Client()}},
	}
	got, err := rep.Run(ctx, "cron")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != report.Done || !strings.Contains(got.Summary, "1 outdated images, 1 image updates, 1 drifting") ||
		strings.Join(got.Posted, ",") != "ops-channel,phone" {
		t.Fatalf("report: %+v", got)
	}
	for _, want := range []string{"web: reboot; k3s restart; restarts nginx.service", "grafana 10.1 is outdated", "nginx:1.27 has a new image", "nas runs 3f2a9c1e"} {
		if !strings.Contains(got.Body, want) {
			t.Errorf("the report lacks %q:\n%s", want, got.Body)
		}
	}
	msgs := fake.Messages()
	if len(msgs) != 1 || !strings.Contains(string(msgs[0].Embeds[0]), "Upgrade report 1") || !strings.Contains(msgs[0].Files["upgrade-report-1.txt"], "k3s 1.28.1 → 1.28.2") {
		t.Fatalf("discord: %+v", msgs)
	}
	m := phone.Messages()
	if len(m) != 1 || m[0].Click != "https://opsbot.example.org/api/v1/reports/1" || !strings.HasPrefix(m[0].Title, "Upgrade report 1") {
		t.Fatalf("ntfy: %+v", m)
	}
	stored, err := st.Report(ctx, got.ID)
	if err != nil || stored.Body != got.Body {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	// The next report: the Diun update is not new any more.
	if got, _ = rep.Run(ctx, "cron"); !strings.Contains(got.Summary, "0 image updates") {
		t.Fatalf("second: %s", got.Summary)
	}

	// A failing report is an incident; the next good one resolves it.
	planner.Repo.URL = filepath.Join(dir, "nowhere")
	planner.Repo.Dir = filepath.Join(dir, "repo2")
	if got, _ = rep.Run(ctx, "cron"); got.State != report.Failed || !strings.Contains(got.Error, "clone the repo") {
		t.Fatalf("failing: %+v", got)
	}
	incident := func(state incidents.State) bool {
		page, _ := st.ListIncidents(ctx, incidents.Filter{Limit: 50})
		for _, inc := range page.Incidents {
			if inc.Source == "opsbot" && inc.State == state && strings.Contains(inc.Title, "the upgrade report failed") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); !incident(incidents.Triggered); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no incident for the failing report")
		}
	}
	planner.Repo.URL, planner.Repo.Dir = r.Host, filepath.Join(dir, "repo3")
	if got, _ = rep.Run(ctx, "cron"); got.State != report.Done {
		t.Fatalf("again: %+v", got)
	}
	for deadline := time.Now().Add(10 * time.Second); !incident(incidents.Resolved); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the report's incident was not resolved")
		}
	}
}
