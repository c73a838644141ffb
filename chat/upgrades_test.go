package chat

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/internal/flaketest"
	"github.com/opsbot/opsbot/internal/spinetest"
	"github.com/opsbot/opsbot/notify/discord/discordtest"
	"github.com/opsbot/opsbot/upgrade"
)

// TestUpgradeFromChat: /upgrade-plan (operate only) answers at once that
// the plan is being made, and posts it when it is ready, with real nix;
// /upgrade-show shows it.
func TestUpgradeFromChat(t *testing.T) {
	flaketest.Nix(t)
	r := flaketest.New(t)
	r.Bump(t)
	e := newEnv(t, 2*time.Second, func(sp *spinetest.Spine, b *Bot) {
		dir := t.TempDir()
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		u := &upgrade.Service{Store: sp.Store, Log: quiet, Planner: &upgrade.Planner{
			Repo:    &deploy.Repo{URL: r.Host, Branch: "main", Dir: filepath.Join(dir, "repo"), Timeout: time.Minute},
			WorkDir: dir, Build: upgrade.DefaultBuild, Hosts: []string{"web", "db"}, Timeout: 5 * time.Minute, Log: quiet, Now: time.Now,
		}}
		if err := u.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(u.Stop)
		b.Ops.Upgrades, b.EditEvery = u, 100*time.Millisecond
	})
	text, eph, _ := e.answer(e.discord.Command(uAlice, guild, channel, "upgrade-plan"))
	if !eph || !strings.Contains(text, "may not operate") {
		t.Fatalf("alice: %q", text)
	}
	text, eph, _ = e.answer(e.discord.Command(uBob, guild, channel, "upgrade-plan", discordtest.Option{Name: "inputs", Type: 3, Value: "pkgs"}))
	if eph || !strings.Contains(text, "upgrade plan 1 is being made") {
		t.Fatalf("bob: %q", text)
	}
	var posted string
	for deadline := time.Now().Add(60 * time.Second); posted == ""; time.Sleep(50 * time.Millisecond) {
		for _, m := range e.discord.Messages() {
			if len(m.Embeds) > 0 && strings.Contains(string(m.Embeds[0]), "Upgrade plan 1") {
				posted = string(m.Embeds[0])
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the plan was not posted")
		}
	}
	if !strings.Contains(posted, "web: reboot; k3s restart; restarts nginx.service") || !strings.Contains(posted, "db: reboot") {
		t.Fatalf("posted: %s", posted)
	}
	text, _, _ = e.answer(e.discord.Command(uCarol, guild, channel, "upgrade-show", discordtest.Option{Name: "plan", Type: 4, Value: 1}))
	if !strings.Contains(text, "unit-nginx.service: +30.0 KiB") {
		t.Fatalf("/upgrade-show: %s", text)
	}
}

// TestApplyButton: the Apply button carries the plan and its lock hash
// into the command, and /upgrade-apply first shows the plan.
func TestApplyButton(t *testing.T) {
	i := &discordgo.Interaction{Type: discordgo.InteractionMessageComponent,
		Data: discordgo.MessageComponentInteractionData{CustomID: "opsbot:upgrade-apply:3:0123456789ab"}}
	r, label, ok := request(i)
	if !ok || r.Command != "upgrade apply" || r.Plan != 3 || r.Rev != "0123456789ab" || label != "button upgrade-apply" {
		t.Fatalf("%+v %q %v", r, label, ok)
	}
	i = &discordgo.Interaction{Type: discordgo.InteractionApplicationCommand, Data: discordgo.ApplicationCommandInteractionData{
		Name: "upgrade-apply", Options: []*discordgo.ApplicationCommandInteractionDataOption{{Name: "plan", Type: discordgo.ApplicationCommandOptionInteger, Value: 3.0}}}}
	if r, label, ok = request(i); !ok || r.Command != "upgrade show" || r.Plan != 3 || label != "/upgrade-apply" {
		t.Fatalf("%+v %q %v", r, label, ok)
	}
	a := applyAnswer(&upgrade.Plan{ID: 3, State: upgrade.Ready, LockHash: "0123456789abcdef", Inputs: []upgrade.InputChange{{Name: "nixpkgs"}}})
	b, _ := json.Marshal(a.components)
	if !strings.Contains(string(b), `"custom_id":"opsbot:upgrade-apply:3:0123456789ab"`) {
		t.Fatalf("button: %s", b)
	}
	for _, bad := range []string{"opsbot:upgrade-apply:x:y", "opsbot:upgrade-apply:3", "opsbot:nuke:3"} {
		i := &discordgo.Interaction{Type: discordgo.InteractionMessageComponent, Data: discordgo.MessageComponentInteractionData{CustomID: bad}}
		if _, _, ok := request(i); ok {
			t.Errorf("%s was taken", bad)
		}
	}
}
