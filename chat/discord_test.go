package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/internal/spinetest"
	"github.com/opsbot/opsbot/notify/discord"
	"github.com/opsbot/opsbot/notify/discord/discordtest"
	"github.com/opsbot/opsbot/ops"
	"github.com/opsbot/opsbot/store"
)

const (
	guild   = "500000000000000001"
	channel = "600000000000000001"
	// users and roles
	alice     = "100000000000000001" // respond, by user id
	bob       = "100000000000000002" // operate, by role
	carol     = "100000000000000003" // nobody in particular: the default
	dave      = "100000000000000004" // none, by user id, despite a respond role
	roleOps   = "700000000000000001" // operate
	roleOncal = "700000000000000002" // respond
)

// env is a bot on the real bus, store and reducer, connected to the fake
// Discord.
type env struct {
	t       *testing.T
	discord *discordtest.Server
	store   *store.Store
	bot     *Bot
}

func newEnv(t *testing.T, deferAfter time.Duration, setup ...func(*spinetest.Spine, *Bot)) *env {
	t.Helper()
	sp := spinetest.Start(t, nil)
	st, quiet := sp.Store, sp.Log
	n := 0
	svc := &ops.Service{Log: quiet, Publisher: sp.Bus, Reader: st, Waiter: sp.Results, WaitTimeout: 5 * time.Second, Rules: sp.Rules,
		NewID: func() string { n++; return fmt.Sprintf("cmd-%d-%d", time.Now().UnixNano(), n) }, Windows: st, Audit: st,
		Ready: func(ctx context.Context) error { return sp.Bus.Ready(ctx) }}

	fake := discordtest.New("bot-token", "1", "x")
	discord.PointAt(fake.URL)
	session, _ := discordgo.New("Bot bot-token")
	session.Client = fake.Client()
	bot := &Bot{
		Session: session, GuildIDs: []string{guild}, Ops: svc, Log: quiet, DeferAfter: deferAfter, Timeout: time.Minute,
		Grants: Grants{
			Users:   map[string]ops.Perm{alice: ops.Respond, dave: ops.None},
			Roles:   map[string]ops.Perm{roleOps: ops.Operate, roleOncal: ops.Respond},
			Default: ops.Read,
		},
	}
	for _, f := range setup {
		f(sp, bot)
	}
	botCtx, stopBot := context.WithCancel(context.Background())
	botDone := make(chan struct{})
	go func() { defer close(botDone); bot.Run(botCtx) }()
	if err := fake.WaitConnected(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Registration follows READY.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if cmds, _ := fake.Commands(guild); len(cmds) == len(bot.commands()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slash commands were not registered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() {
		stopBot()
		<-botDone
		sp.Stop()
		fake.Close()
	})
	e := &env{t: t, discord: fake, store: st, bot: bot}
	return e
}

// incident opens an incident through the store, as the reducer would.
func (e *env) incident(key string) int64 {
	e.t.Helper()
	ev := &incidents.Event{ID: "ev-" + key, Source: "alertmanager", Action: incidents.Trigger, DedupKey: key, GroupKey: key,
		Summary: key + " is down", Severity: incidents.Critical, Labels: map[string]string{"alertname": "Down", "service": key}}
	if err := ev.Validate(incidents.Warning); err != nil {
		e.t.Fatal(err)
	}
	out, err := e.store.Apply(context.Background(), []incidents.Envelope{{Event: ev, At: time.Now()}})
	if err != nil {
		e.t.Fatal(err)
	}
	return out[0].IncidentID
}

func id(n int64) discordtest.Option { return discordtest.Option{Name: "id", Type: 4, Value: n} }
func str(name, v string) discordtest.Option {
	return discordtest.Option{Name: name, Type: 3, Value: v}
}

// answer waits for the final answer to an interaction.
func (e *env) answer(iid string) (string, bool, *discordtest.Response) {
	e.t.Helper()
	r, err := e.discord.Response(iid, 5*time.Second, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	text, eph := r.Final()
	return text, eph, r
}

func (e *env) get(n int64) *incidents.Incident {
	e.t.Helper()
	inc, err := e.store.Incident(context.Background(), n)
	if err != nil {
		e.t.Fatal(err)
	}
	return inc
}

var (
	uAlice = discordtest.User{ID: alice, Name: "Alice"}
	uBob   = discordtest.User{ID: bob, Name: "Bob", Roles: []string{roleOps}}
	uCarol = discordtest.User{ID: carol, Name: "Carol"}
)

// TestCommandsAndButtons: slash commands and buttons flow from the gateway
// to the incident in SQLite, named after the Discord user, audited, and
// are answered within Discord's 3 seconds.
func TestCommandsAndButtons(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	cmds, registered := e.discord.Commands(guild)
	if registered != 1 || len(cmds) != 11 || !strings.Contains(string(cmds[0]), `"name":"incidents"`) {
		t.Fatalf("registered %d times: %s", registered, cmds)
	}
	n := e.incident("git")

	text, eph, r := e.answer(e.discord.Command(uAlice, guild, channel, "ack", id(n)))
	if eph || !strings.Contains(text, "incident #1 acknowledged") || r.Type != 4 || r.After > 3*time.Second {
		t.Fatalf("/ack: %q ephemeral=%v %+v", text, eph, r)
	}
	inc := e.get(n)
	if inc.State != incidents.Acknowledged || inc.AcknowledgedBy != "Alice (discord "+alice+")" {
		t.Fatalf("after /ack: %s by %q", inc.State, inc.AcknowledgedBy)
	}
	last := inc.Timeline[len(inc.Timeline)-1]
	if last.Actor != "Alice (discord "+alice+")" || !strings.Contains(last.Origin, "discord /ack in guild "+guild) {
		t.Fatalf("timeline: %+v", last)
	}
	// The same again is refused, to her alone, with the reason.
	text, eph, _ = e.answer(e.discord.Command(uAlice, guild, channel, "ack", id(n)))
	if !eph || !strings.Contains(text, "already acknowledged by Alice") {
		t.Fatalf("second /ack: %q %v", text, eph)
	}

	e.answer(e.discord.Command(uAlice, guild, channel, "comment", id(n), str("text", "restarting gitea")))
	e.answer(e.discord.Command(uAlice, guild, channel, "snooze", id(n), str("duration", "45m")))
	if inc = e.get(n); inc.SnoozedUntil == nil || time.Until(*inc.SnoozedUntil) < 40*time.Minute {
		t.Fatalf("snooze: %+v", inc.SnoozedUntil)
	}
	text, _, _ = e.answer(e.discord.Command(uCarol, guild, channel, "incident", id(n)))
	if !strings.Contains(text, "restarting gitea") || !strings.Contains(text, `acknowledged by \u003c@`+alice+`\u003e`) {
		t.Fatalf("/incident: %s", text)
	}
	text, eph, _ = e.answer(e.discord.Command(uCarol, guild, channel, "incidents"))
	if !eph || !strings.Contains(text, "**#1** git is down") {
		t.Fatalf("/incidents: %s", text)
	}
	text, _, _ = e.answer(e.discord.Command(uCarol, guild, channel, "status"))
	if !strings.Contains(text, "1 open incidents (1 critical), 1 acknowledged; opsbot is healthy") || !strings.Contains(text, "Last events") {
		t.Fatalf("/status: %s", text)
	}
	text, _, _ = e.answer(e.discord.Command(uCarol, guild, channel, "incidents", str("state", "sideways")))
	if !strings.Contains(text, "state: must be open") {
		t.Fatalf("/incidents sideways: %s", text)
	}

	// The Resolve button on the incident's message.
	text, eph, _ = e.answer(e.discord.Press(uAlice, guild, channel, discord.CustomID(incidents.Close, n)))
	if !eph || !strings.Contains(text, "incident #1 resolved") {
		t.Fatalf("resolve button: %q %v", text, eph)
	}
	if inc = e.get(n); inc.State != incidents.Resolved || inc.ResolvedBy != "Alice (discord "+alice+")" {
		t.Fatalf("after the button: %s by %q", inc.State, inc.ResolvedBy)
	}
	// The message the notifier edits says who.
	emb, _ := json.Marshal(discord.Embed(inc))
	if !strings.Contains(string(emb), "resolved by \\u003c@"+alice+"\\u003e") {
		t.Fatalf("embed: %s", emb)
	}

	// Maintenance needs operate: Bob has it through a role.
	text, _, _ = e.answer(e.discord.Command(uAlice, guild, channel, "maintenance", str("matchers", "service=git"), str("duration", "1h")))
	if !strings.Contains(text, "may not operate") {
		t.Fatalf("alice /maintenance: %s", text)
	}
	text, _, _ = e.answer(e.discord.Command(uBob, guild, channel, "maintenance", str("matchers", "service=git host=~nas.*"), str("duration", "1h"), str("comment", "upgrade")))
	if !strings.Contains(text, "maintenance window #1 for service=git host=~nas.*") {
		t.Fatalf("bob /maintenance: %s", text)
	}
	// Silences need an Alertmanager; none is configured here.
	text, _, _ = e.answer(e.discord.Command(uAlice, guild, channel, "silence", id(n), str("duration", "1h")))
	if !strings.Contains(text, "no Alertmanager is configured") {
		t.Fatalf("/silence: %s", text)
	}

	audit, err := e.store.Audit(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, a := range audit {
		if a.Via != "discord" {
			t.Errorf("audit via %q", a.Via)
		}
		lines = append(lines, fmt.Sprintf("%s|%s|%s|%v|%s", a.Actor, a.Command, a.Target, a.Allowed, a.Result))
	}
	all := strings.Join(lines, "\n")
	for _, want := range []string{
		"Alice (discord " + alice + ")|incident ack|#1|true|200 incident #1 acknowledged",
		"Alice (discord " + alice + ")|incident ack|#1|true|409 incident #1 is already acknowledged",
		"Carol (discord " + carol + ")|status||true|200 1 open incidents",
		"Alice (discord " + alice + ")|incident resolve|#1|true|200 incident #1 resolved",
		"Alice (discord " + alice + ")|maintenance start|service=git|false|403 Alice (discord " + alice + ") may not operate",
		"Bob (discord " + bob + ")|maintenance start|service=git host=~nas.*|true|201 maintenance window #1",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	if len(audit) != 12 {
		t.Errorf("%d audit entries for 12 interactions:\n%s", len(audit), all)
	}
	if _, _, beats := e.discord.Counts(); beats == 0 {
		t.Error("no heartbeats")
	}
}

// TestAuthorizationMatrix: each permission class, by user or role, against
// every command; unknown users, direct messages, other servers and
// channels. Whatever is refused is refused ephemerally, by opsbot, at the
// time of the interaction.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t, 2*time.Second)
	e.bot.ChannelIDs = []string{channel}
	n := e.incident("nas")
	type who struct {
		name  string
		user  discordtest.User
		guild string
		chan_ string
		perm  ops.Perm
	}
	whos := []who{
		{"user grant respond", uAlice, guild, channel, ops.Respond},
		{"role grant operate", uBob, guild, channel, ops.Operate},
		{"role grant respond", discordtest.User{ID: "100000000000000009", Name: "Erin", Roles: []string{roleOncal, "1"}}, guild, channel, ops.Respond},
		{"unknown member: default read", uCarol, guild, channel, ops.Read},
		{"user grant none beats role", discordtest.User{ID: dave, Name: "Dave", Roles: []string{}}, guild, channel, ops.None},
		{"roles still count over a user grant", discordtest.User{ID: alice, Name: "Alice", Roles: []string{roleOps}}, guild, channel, ops.Operate},
		{"direct message, listed user", discordtest.User{ID: alice, Name: "Alice", DM: true}, "", "", ops.Respond},
		{"direct message, unknown user", discordtest.User{ID: carol, Name: "Carol", DM: true}, "", "", ops.None},
		{"direct message, roles do not count", discordtest.User{ID: bob, Name: "Bob", Roles: []string{roleOps}, DM: true}, "", "", ops.None},
		{"another server", uBob, "500000000000000009", channel, ops.None},
		{"another channel", uBob, guild, "600000000000000009", ops.None},
	}
	type cmd struct {
		name string
		opts []discordtest.Option
	}
	cmds := []cmd{
		{"incidents", nil}, {"incident", []discordtest.Option{id(n)}}, {"status", nil},
		{"comment", []discordtest.Option{id(n), str("text", "looking")}},
		{"snooze", []discordtest.Option{id(n), str("duration", "10m")}},
		{"silence", []discordtest.Option{id(n), str("duration", "1h")}},
		{"unsilence", []discordtest.Option{id(n)}},
		{"maintenance", []discordtest.Option{str("matchers", "service=none"), str("duration", "1m")}},
	}
	attempts := 0
	for _, w := range whos {
		for _, c := range cmds {
			name := c.name
			if name == "maintenance" {
				name = "maintenance start"
			}
			text, eph, _ := e.answer(e.discord.Command(w.user, w.guild, w.chan_, c.name, c.opts...))
			attempts++
			refused := strings.Contains(text, " may not ")
			if want := w.perm < ops.Needs(name); refused != want {
				t.Errorf("%s /%s: refused=%v, want %v: %s", w.name, c.name, refused, want, text)
			}
			if refused && !eph {
				t.Errorf("%s /%s: the refusal is public", w.name, c.name)
			}
		}
		// The buttons too.
		text, _, _ := e.answer(e.discord.Press(w.user, w.guild, w.chan_, discord.CustomID(incidents.Ack, n)))
		attempts++
		if refused := strings.Contains(text, " may not "); refused != (w.perm < ops.Respond) {
			t.Errorf("%s ack button: %s", w.name, text)
		}
		if w.perm >= ops.Respond {
			// unack, so the next one can ack again
			e.answer(e.discord.Command(uAlice, guild, channel, "unack", id(n)))
			attempts++
		}
	}
	// Each refusal says why, in words.
	text, _, _ := e.answer(e.discord.Command(whos[8].user, "", "", "ack", id(n)))
	attempts++
	if !strings.Contains(text, "not listed in chat.discord.users") {
		t.Errorf("DM refusal: %s", text)
	}
	text, _, _ = e.answer(e.discord.Command(uBob, guild, "600000000000000009", "ack", id(n)))
	attempts++
	if !strings.Contains(text, "opsbot takes commands in <#"+channel+">") {
		t.Errorf("channel refusal: %s", text)
	}
	audit, _ := e.store.Audit(context.Background(), 0, 500)
	if len(audit) != attempts {
		t.Errorf("%d audit entries for %d attempts", len(audit), attempts)
	}
}

// TestDeferredAndResumed: work that takes longer than DeferAfter is
// deferred and edited in; a failure after a public deferral is replaced
// by an ephemeral follow-up. A dropped gateway connection is resumed and
// the interactions dispatched meanwhile are answered.
func TestDeferredAndResumed(t *testing.T) {
	e := newEnv(t, 0)
	n := e.incident("web")
	text, eph, r := e.answer(e.discord.Command(uAlice, guild, channel, "ack", id(n)))
	if r.Type != 5 || eph || len(r.Edits) != 1 || !strings.Contains(text, "incident #1 acknowledged") {
		t.Fatalf("deferred /ack: %q %+v", text, r)
	}
	text, eph, r = e.answer(e.discord.Command(uAlice, guild, channel, "ack", id(n)))
	if r.Type != 5 || !r.Deleted || !eph || !strings.Contains(text, "already acknowledged") {
		t.Fatalf("deferred failure: %q %+v", text, r)
	}
	text, eph, r = e.answer(e.discord.Command(uCarol, guild, channel, "incidents"))
	if r.Type != 5 || !r.Ephemeral || !eph || !strings.Contains(text, "web is down") {
		t.Fatalf("deferred /incidents: %q %+v", text, r)
	}

	e.bot.DeferAfter = 2 * time.Second
	e.discord.Drop()
	iid := e.discord.Command(uAlice, guild, channel, "unack", id(n))
	if err := e.discord.WaitConnected(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	text, _, _ = e.answer(iid)
	if !strings.Contains(text, "unacknowledged") {
		t.Fatalf("after resume: %s", text)
	}
	identifies, resumes, _ := e.discord.Counts()
	if identifies != 1 || resumes != 1 {
		t.Fatalf("identifies %d, resumes %d", identifies, resumes)
	}
	// Discord asks for a reconnect (op 7): discordgo resumes again.
	e.discord.Reconnect()
	deadline := time.Now().Add(10 * time.Second)
	for _, resumes, _ = e.discord.Counts(); resumes < 2; _, resumes, _ = e.discord.Counts() {
		if time.Now().After(deadline) {
			t.Fatal("no resume after op 7")
		}
		time.Sleep(20 * time.Millisecond)
	}
	text, _, _ = e.answer(e.discord.Command(uAlice, guild, channel, "ack", id(n)))
	if !strings.Contains(text, "incident #1 acknowledged") {
		t.Fatalf("after op 7: %s", text)
	}
	if _, registered := e.discord.Commands(guild); registered != 1 {
		t.Fatalf("commands registered %d times; a resume does not register again", registered)
	}
}

func TestGrants(t *testing.T) {
	g := Grants{Users: map[string]ops.Perm{"1": ops.Respond}, Roles: map[string]ops.Perm{"9": ops.Operate}, Default: ops.Read}
	for _, c := range []struct {
		user  string
		roles []string
		dm    bool
		want  ops.Perm
	}{
		{"1", nil, false, ops.Respond}, {"2", nil, false, ops.Read}, {"2", []string{"9"}, false, ops.Operate},
		{"1", []string{"9"}, false, ops.Operate}, {"1", nil, true, ops.Respond}, {"2", nil, true, ops.None},
		{"2", []string{"9"}, true, ops.None},
	} {
		if got, why := g.For(c.user, c.roles, c.dm); got != c.want || why == "" {
			t.Errorf("%+v: %s (%s)", c, got, why)
		}
	}
}
