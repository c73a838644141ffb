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
	"github.com/opsbot/opsbot/internal/kubetest"
	"github.com/opsbot/opsbot/internal/spinetest"
	"github.com/opsbot/opsbot/notify/discord/discordtest"
	"github.com/opsbot/opsbot/upgrade"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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

// TestApplyFromChat: /upgrade-apply shows the plan with its Apply button;
// pressing it (operate only) rolls the upgrade out against a real
// kube-apiserver, followed in a message edited to its end.
func TestApplyFromChat(t *testing.T) {
	flaketest.Nix(t)
	kube := kubetest.Start(t)
	kc, err := kubernetes.NewForConfig(kube)
	if err != nil {
		t.Fatal(err)
	}
	node, err := kc.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "k3s-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := kc.CoreV1().Nodes().UpdateStatus(context.Background(), node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := flaketest.New(t)
	r.Bump(t)
	var plan *upgrade.Plan
	e := newEnv(t, 2*time.Second, func(sp *spinetest.Spine, b *Bot) {
		dir := t.TempDir()
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		repo := &deploy.Repo{URL: r.Host, Branch: "main", Dir: filepath.Join(dir, "repo"), Timeout: time.Minute}
		plans := &upgrade.Service{Store: sp.Store, Log: quiet, Planner: &upgrade.Planner{Repo: repo, WorkDir: dir, Build: upgrade.DefaultBuild,
			Hosts: []string{"web"}, Timeout: 5 * time.Minute, Log: quiet, Now: time.Now}}
		deploys := &deploy.Service{Repo: repo, Store: sp.Store, WorkDir: filepath.Join(dir, "runs"), PlanTTL: time.Hour, OutputLimit: 1 << 16,
			Log: quiet, Now: time.Now, Targets: map[string]*deploy.Target{
				"k3s-1": {Name: "k3s-1", Host: "k3s-1", Timeout: time.Minute, Driver: deploy.Driver{Name: "command", Deploy: []string{"true"}}}}}
		ap := &upgrade.Applier{Plans: sp.Store, Store: sp.Store, Deploys: deploys, Repo: repo, Kube: kc, WorkDir: dir,
			Nodes: []upgrade.Node{{Name: "k3s-1", Target: "k3s-1"}}, DrainTimeout: time.Minute, ReadyTimeout: 10 * time.Second,
			Poll: 100 * time.Millisecond, Log: quiet, Now: time.Now}
		for _, start := range []func(context.Context) error{plans.Start,
			func(ctx context.Context) error { _, err := deploys.Start(ctx); return err },
			func(ctx context.Context) error { _, err := ap.Start(ctx); return err }} {
			if err := start(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { ap.Stop(); deploys.Stop(); plans.Stop() })
		var err error
		if plan, err = plans.MakeNow(context.Background(), "bob"); err != nil || plan.State != upgrade.Ready {
			t.Fatalf("plan: %+v %v", plan, err)
		}
		b.Ops.Upgrades, b.Ops.Applier, b.UpgradeRefs, b.EditEvery = plans, ap, ap.SetChatRef, 100*time.Millisecond
	})
	text, eph, _ := e.answer(e.discord.Command(uCarol, guild, channel, "upgrade-apply", discordtest.Option{Name: "plan", Type: 4, Value: 1}))
	if eph || !strings.Contains(text, "Upgrade plan 1") || !strings.Contains(text, "web: reboot") {
		t.Fatalf("/upgrade-apply: %q", text)
	}
	button := "opsbot:upgrade-apply:1:" + plan.LockHash[:12]
	if text, eph, _ = e.answer(e.discord.Press(uAlice, guild, channel, button)); !eph || !strings.Contains(text, "may not operate") {
		t.Fatalf("alice: %q", text)
	}
	if text, _, _ = e.answer(e.discord.Press(uBob, guild, channel, "opsbot:upgrade-apply:1:ffffffffffff")); !strings.Contains(text, "look at the plan again") {
		t.Fatalf("another lock hash: %q", text)
	}
	if text, _, _ = e.answer(e.discord.Press(uBob, guild, channel, button)); !strings.Contains(text, "upgrade 1 started: plan 1, 1 nodes") {
		t.Fatalf("bob: %q", text)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		done := false
		for _, m := range e.discord.Messages() {
			if len(m.Embeds) > 0 && strings.Contains(string(m.Embeds[0]), "upgrade 1: all 1 nodes upgraded") {
				done = true
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upgrade's message did not reach its end: %+v", e.discord.Messages())
		}
	}
}
