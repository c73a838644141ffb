package chat

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/internal/spinetest"
	"github.com/opsbot/opsbot/notify/discord/discordtest"
	"github.com/opsbot/opsbot/upgrade"
)

// gitRepo makes a repo with one commit and returns its path and the commit.
func gitRepo(t *testing.T) (string, string) {
	dir := t.TempDir()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"commit", "-q", "--allow-empty", "-m", "web: first"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %s", args, out)
		}
	}
	out, _ := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	return dir, strings.TrimSpace(string(out))
}

// TestDeployFromChat: /deploy shows the plan with an approval button; only
// operate may approve (the second person where the target needs one); the
// run is followed in a message edited to its end; /deploys and
// /deploy-log read the history; a run a restart interrupted is told so.
func TestDeployFromChat(t *testing.T) {
	origin, c1 := gitRepo(t)
	var deploys *deploy.Service
	var crashed deploy.Run
	e := newEnv(t, 2*time.Second, func(sp *spinetest.Spine, b *Bot) {
		dir := t.TempDir()
		deploys = &deploy.Service{
			Repo:  &deploy.Repo{URL: origin, Branch: "main", Dir: filepath.Join(dir, "repo"), Timeout: time.Minute},
			Store: sp.Store, WorkDir: filepath.Join(dir, "runs"), PlanTTL: time.Hour, OutputLimit: 1 << 16,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
			Targets: map[string]*deploy.Target{
				"web": {Name: "web", Host: "web", Timeout: time.Minute, Driver: deploy.Driver{Name: "command", Deploy: []string{"echo", "deploying", "{host}", "{rev}"}}},
				"db":  {Name: "db", Host: "db", Timeout: time.Minute, SecondApproval: true, Driver: deploy.Driver{Name: "command", Deploy: []string{"true"}}},
			},
		}
		// A run a crash left running, whose message is in the channel.
		m := b.Session
		msg, err := m.ChannelMessageSend(channel, "run #1")
		if err != nil {
			t.Fatal(err)
		}
		crashed = deploy.Run{Kind: deploy.KindDeploy, Target: "web", Driver: "command", To: c1, Actor: "Bob", State: deploy.Running,
			Phase: "running", StartedAt: time.Now(), ChatRef: channel + ":" + msg.ID}
		if err := sp.Store.StartRun(context.Background(), &crashed, false); err != nil {
			t.Fatal(err)
		}
		interrupted, err := deploys.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(deploys.Stop)
		b.Ops.Deploys, b.Interrupted, b.ChatRefs, b.Targets, b.EditEvery = deploys, interrupted, deploys.SetChatRef, []string{"db", "web"}, 100*time.Millisecond
		// And an upgrade a crash interrupted.
		um, err := m.ChannelMessageSend(channel, "upgrade 1")
		if err != nil {
			t.Fatal(err)
		}
		b.InterruptedUpgrades = []upgrade.Apply{{ID: 1, State: upgrade.Interrupted, Phase: "draining", ChatRef: channel + ":" + um.ID,
			Nodes: []upgrade.NodeResult{{Node: "k3s-1", Target: "k3s-1", State: "upgrading"}}}}
	})
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	message := func(id string) discordtest.Message {
		for _, m := range e.discord.Messages() {
			if m.ID == id {
				return m
			}
		}
		return discordtest.Message{}
	}
	first, second := e.discord.Messages()[0], e.discord.Messages()[1]
	waitFor("the interrupted run's message", func() bool {
		m := message(first.ID)
		return m.Edits > 0 && strings.Contains(string(m.Embeds[0]), "opsbot restarted during the run")
	})
	waitFor("the interrupted upgrade's message", func() bool {
		m := message(second.ID)
		return m.Edits > 0 && strings.Contains(string(m.Embeds[0]), "upgrade 1 interrupted at node 1 of 1 (k3s-1) while draining: opsbot restarted during the upgrade")
	})

	cmds, _ := e.discord.Commands(guild)
	if len(cmds) != 15 || !strings.Contains(string(cmds[11]), `"name":"deploy"`) || !strings.Contains(string(cmds[11]), `"choices":[{"name":"db"`) {
		t.Fatalf("commands: %d %s", len(cmds), cmds[11])
	}
	target := discordtest.Option{Name: "target", Type: 3, Value: "web"}
	text, eph, _ := e.answer(e.discord.Command(uAlice, guild, channel, "deploy", target))
	if !eph || !strings.Contains(text, "may not operate") {
		t.Fatalf("alice /deploy: %q", text)
	}
	text, eph, _ = e.answer(e.discord.Command(uBob, guild, channel, "deploy", target))
	if eph || !strings.Contains(text, "plan 1: deploy web from nothing deployed by opsbot yet to "+c1[:12]) || !strings.Contains(text, "web: first") {
		t.Fatalf("bob /deploy: %q", text)
	}
	// Alice may not approve; Bob may.
	text, eph, _ = e.answer(e.discord.Press(uAlice, guild, channel, "opsbot:approve:1"))
	if !eph || !strings.Contains(text, "may not operate") {
		t.Fatalf("alice approves: %q", text)
	}
	text, eph, _ = e.answer(e.discord.Press(uBob, guild, channel, "opsbot:approve:1"))
	if eph || !strings.Contains(text, "run #2: deploy of web to "+c1[:12]+" started") {
		t.Fatalf("bob approves: %q %v", text, eph)
	}
	waitFor("the run's message to show its end", func() bool {
		for _, m := range e.discord.Messages() {
			if len(m.Embeds) > 0 && strings.Contains(string(m.Embeds[0]), "Run #2") && strings.Contains(string(m.Embeds[0]), "echo succeeded") &&
				strings.Contains(string(m.Embeds[0]), "deploying web "+c1) {
				return true
			}
		}
		return false
	})
	if text, _, _ = e.answer(e.discord.Press(uBob, guild, channel, "opsbot:approve:1")); !strings.Contains(text, "already approved") {
		t.Fatalf("approved twice: %q", text)
	}
	text, _, _ = e.answer(e.discord.Command(uCarol, guild, channel, "deploys"))
	if !strings.Contains(text, "**#2** deploy web") || !strings.Contains(text, "succeeded") || !strings.Contains(text, "**#1**") {
		t.Fatalf("/deploys: %s", text)
	}
	text, _, _ = e.answer(e.discord.Command(uCarol, guild, channel, "deploy-log", discordtest.Option{Name: "run", Type: 4, Value: 2}))
	if !strings.Contains(text, "deploying web "+c1) {
		t.Fatalf("/deploy-log: %s", text)
	}
	// db needs a second person.
	e.answer(e.discord.Command(uBob, guild, channel, "deploy", discordtest.Option{Name: "target", Type: 3, Value: "db"}))
	if text, _, _ = e.answer(e.discord.Press(uBob, guild, channel, "opsbot:approve:2")); !strings.Contains(text, "second person") {
		t.Fatalf("self-approval: %q", text)
	}
	erin := discordtest.User{ID: "100000000000000009", Name: "Erin", Roles: []string{roleOps}}
	if text, _, _ = e.answer(e.discord.Press(erin, guild, channel, "opsbot:approve:2")); !strings.Contains(text, "run #3: deploy of db") {
		t.Fatalf("erin approves: %q", text)
	}
	// Injection attempts are refused in words, and run nothing.
	for _, rev := range []string{"--upload-pack=touch /tmp/x", "$(id)", ";rm -rf /"} {
		text, _, _ = e.answer(e.discord.Command(uBob, guild, channel, "deploy", target, discordtest.Option{Name: "rev", Type: 3, Value: rev}))
		if !strings.Contains(text, "is not a revision") {
			t.Fatalf("rev %q: %q", rev, text)
		}
	}
	text, _, _ = e.answer(e.discord.Command(uBob, guild, channel, "deploy", discordtest.Option{Name: "target", Type: 3, Value: "../web"}))
	if !strings.Contains(text, `there is no target "../web"`) {
		t.Fatalf("target: %q", text)
	}
}
