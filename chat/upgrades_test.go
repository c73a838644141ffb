package chat

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
