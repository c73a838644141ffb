// Package chat is opsbot's Discord bot: slash commands and the buttons on
// incident messages, over the gateway with discordgo. It parses an
// interaction into an ops.Request, names and authorizes the user by their
// Discord id and roles, lets ops execute and audit it, and answers within
// Discord's three seconds, deferring the answer when the work takes longer.
package chat

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify/discord"
	"github.com/opsbot/opsbot/ops"
	"github.com/opsbot/opsbot/upgrade"
)

// Grants say what Discord users may do: by user id, by role id (the
// highest of a member's roles counts), and Default for other members of
// the bot's guilds. In a direct message there are no roles and no default:
// only users listed by id may do anything.
type Grants struct {
	Users   map[string]ops.Perm
	Roles   map[string]ops.Perm
	Default ops.Perm
}

// For returns what a user may do, and why, in words for a refusal.
func (g *Grants) For(user string, roles []string, dm bool) (ops.Perm, string) {
	p, why := ops.None, "not listed in chat.discord.users"
	if !dm {
		p, why = g.Default, "the default for members"
	}
	if q, ok := g.Users[user]; ok {
		p, why = q, "granted to the user"
	}
	if !dm {
		for _, r := range roles {
			if q, ok := g.Roles[r]; ok && q > p {
				p, why = q, "granted to the role <@&"+r+">"
			}
		}
	}
	return p, fmt.Sprintf("you have %s: %s; an admin grants more in chat.discord.users or chat.discord.roles", p, why)
}

// Bot answers slash commands and buttons.
type Bot struct {
	Session *discordgo.Session
	// AppID is the application's id; empty: the one READY names.
	AppID string
	// GuildIDs are the servers whose commands are taken; the slash
	// commands are registered in each.
	GuildIDs []string
	// ChannelIDs, if any, are the only channels commands are taken in.
	ChannelIDs []string
	Grants     Grants
	Ops        *ops.Service
	Log        *slog.Logger
	// DeferAfter is how long a command may run before the answer is
	// deferred; Discord wants one within 3 seconds.
	DeferAfter time.Duration
	// Timeout bounds a command's work; an interaction's token lasts 15
	// minutes.
	Timeout time.Duration
	// Targets are the deploy targets, offered as choices.
	Targets []string
	// EditEvery is how often a run's message is edited at most.
	EditEvery time.Duration
	// ChatRefs records the message that follows a run; Interrupted are
	// runs a restart interrupted, whose messages are told so.
	ChatRefs    func(ctx context.Context, run int64, ref string)
	Interrupted []deploy.Run
	// UpgradeRefs and InterruptedUpgrades are the same for upgrades.
	UpgradeRefs         func(ctx context.Context, id int64, ref string)
	InterruptedUpgrades []upgrade.Apply

	mu      sync.Mutex
	closing bool
	running sync.WaitGroup
	stop    chan struct{}
}

// Run connects to the gateway, registers the slash commands and answers
// interactions until ctx is done; it retries, with backoff, a gateway or
// registration that fails. discordgo reconnects and resumes by itself.
func (b *Bot) Run(ctx context.Context) {
	// discordgo's own messages go to opsbot's log.
	discordgo.Logger = func(level, _ int, format string, a ...any) {
		l := slog.LevelDebug
		switch level {
		case discordgo.LogError:
			l = slog.LevelError
		case discordgo.LogWarning:
			l = slog.LevelWarn
		}
		b.Log.Log(context.Background(), l, "discordgo: "+fmt.Sprintf(format, a...))
	}
	b.Session.Identify.Intents = discordgo.IntentsGuilds
	b.Session.ShouldReconnectOnError = true
	b.Session.AddHandler(func(_ *discordgo.Session, i *discordgo.InteractionCreate) { b.handle(i.Interaction) })
	b.Session.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
		b.Log.Info("discord: connected to the gateway", "bot", r.User.Username, "session", r.SessionID)
		b.mu.Lock()
		if b.AppID == "" && r.Application != nil {
			b.AppID = r.Application.ID
		}
		b.mu.Unlock()
	})
	b.Session.AddHandler(func(_ *discordgo.Session, _ *discordgo.Resumed) { b.Log.Info("discord: gateway session resumed") })
	b.Session.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) { b.Log.Warn("discord: gateway disconnected") })
	b.stop = make(chan struct{})
	wait := time.Second
	for {
		err := b.open()
		if err == nil {
			break
		}
		b.Log.Error("discord: bot not started; retrying", "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
	<-ctx.Done()
	b.close()
}

func (b *Bot) open() error {
	if err := b.Session.Open(); err != nil && err != discordgo.ErrWSAlreadyOpen {
		return fmt.Errorf("gateway: %w", err)
	}
	b.mu.Lock()
	app := b.AppID
	b.mu.Unlock()
	if app == "" {
		return fmt.Errorf("no application id: set chat.discord.application_id")
	}
	cmds := b.commands()
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = "/" + c.Name
	}
	for _, g := range b.GuildIDs {
		// A bulk overwrite is idempotent: the guild ends up with exactly
		// these commands, whatever it had.
		got, err := b.Session.ApplicationCommandBulkOverwrite(app, g, cmds)
		if err != nil {
			return fmt.Errorf("registering slash commands in guild %s: %w", g, err)
		}
		b.Log.Info("discord: registered slash commands", "guild", g, "count", len(got), "commands", strings.Join(names, " "))
	}
	b.tellInterrupted()
	b.Interrupted, b.InterruptedUpgrades = nil, nil
	return nil
}

// commands are the slash commands to register: the deploy ones too when
// deploys are configured.
func (b *Bot) commands() []*discordgo.ApplicationCommand {
	cmds := append([]*discordgo.ApplicationCommand{}, Commands...)
	extra := []*discordgo.ApplicationCommand{}
	if b.Ops.Deploys != nil {
		extra = append(extra, deployCommands(b.Targets)...)
	}
	if b.Ops.Upgrades != nil {
		extra = append(extra, upgradeCommands()...)
	}
	if b.Ops.Applier != nil {
		extra = append(extra, applyCommand())
	}
	for _, c := range extra {
		c.Contexts = &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild}
		cmds = append(cmds, c)
	}
	return cmds
}

// close stops taking interactions, closes the gateway and waits for the
// interactions being answered.
func (b *Bot) close() {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	close(b.stop)
	b.Session.Close()
	b.running.Wait()
	b.Log.Info("discord: bot stopped")
}

func idOption(desc string) *discordgo.ApplicationCommandOption {
	one := 1.0
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionInteger, Name: "id", Description: desc, Required: true, MinValue: &one}
}

func text(name, desc string, required bool) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: name, Description: desc, Required: required, MaxLength: 1000}
}

// Commands are the slash commands the bot registers.
var Commands = []*discordgo.ApplicationCommand{
	{Name: "incidents", Description: "List incidents", Options: []*discordgo.ApplicationCommandOption{{
		Type: discordgo.ApplicationCommandOptionString, Name: "state", Description: "Which incidents (default: open)",
		Choices: choices(ops.States...),
	}}},
	{Name: "incident", Description: "Show an incident with its alerts and timeline", Options: []*discordgo.ApplicationCommandOption{idOption("Incident number")}},
	{Name: "ack", Description: "Acknowledge an incident: you are on it", Options: []*discordgo.ApplicationCommandOption{idOption("Incident number")}},
	{Name: "unack", Description: "Take back an acknowledgement", Options: []*discordgo.ApplicationCommandOption{idOption("Incident number")}},
	{Name: "resolve", Description: "Resolve an incident", Options: []*discordgo.ApplicationCommandOption{idOption("Incident number"), text("note", "What was done", false)}},
	{Name: "snooze", Description: "Snooze an incident's notifications", Options: []*discordgo.ApplicationCommandOption{idOption("Incident number"), text("duration", "How long, such as 30m or 2h", true)}},
	{Name: "comment", Description: "Add a comment to an incident's timeline", Options: []*discordgo.ApplicationCommandOption{idOption("Incident number"), text("text", "The comment", true)}},
	{Name: "silence", Description: "Silence the incident's alerts in Alertmanager", Options: []*discordgo.ApplicationCommandOption{idOption("Incident number"), text("duration", "How long, such as 2h", true), text("comment", "Why", false)}},
	{Name: "unsilence", Description: "Expire the incident's silence in Alertmanager", Options: []*discordgo.ApplicationCommandOption{idOption("Incident number")}},
	{Name: "maintenance", Description: "Start a maintenance window: matching incidents notify nobody", Options: []*discordgo.ApplicationCommandOption{
		text("matchers", "Label matchers, such as host=nas or service=~web.*", true), text("duration", "How long, such as 2h", true), text("comment", "Why", false)}},
	{Name: "status", Description: "Open incidents by severity, opsbot's health and the last events"},
}

func init() {
	// Guild commands: not offered in direct messages.
	for _, c := range Commands {
		c.Contexts = &[]discordgo.InteractionContextType{discordgo.InteractionContextGuild}
	}
}

func choices(names ...string) []*discordgo.ApplicationCommandOptionChoice {
	out := make([]*discordgo.ApplicationCommandOptionChoice, len(names))
	for i, n := range names {
		out[i] = &discordgo.ApplicationCommandOptionChoice{Name: n, Value: n}
	}
	return out
}

// request turns an interaction into a command; ok is false for one that
// is not opsbot's.
func request(i *discordgo.Interaction) (r ops.Request, label string, ok bool) {
	switch i.Type {
	case discordgo.InteractionApplicationCommand:
		d := i.ApplicationCommandData()
		r.Command = d.Name
		for _, o := range d.Options {
			switch o.Name {
			case "id":
				if v, isNum := o.Value.(float64); isNum {
					r.Incident = int64(v)
				}
			case "state":
				r.State = o.StringValue()
			case "note", "text", "comment":
				r.Text = o.StringValue()
			case "duration":
				r.Duration = o.StringValue()
			case "matchers":
				r.Matchers = strings.Fields(o.StringValue())
			case "target":
				r.Target = o.StringValue()
			case "rev":
				r.Rev = o.StringValue()
			case "run":
				if v, isNum := o.Value.(float64); isNum {
					r.Run = int64(v)
				}
			case "plan":
				if v, isNum := o.Value.(float64); isNum {
					r.Plan = int64(v)
				}
			case "inputs":
				r.Inputs = strings.Fields(o.StringValue())
			}
		}
		switch r.Command {
		case "maintenance":
			r.Command = "maintenance start"
		case "deploy-log":
			r.Command = "deploy log"
		case "upgrade-plan", "upgrade-show":
			r.Command = strings.Replace(r.Command, "-", " ", 1)
		case "upgrade-apply":
			// First the plan and its button; the button applies.
			r.Command = "upgrade show"
			return r, "/upgrade-apply", true
		}
		if !ops.Known(r.Command) || r.Command == "approve" {
			return r, "", false
		}
		return r, "/" + d.Name, true
	case discordgo.InteractionMessageComponent:
		// opsbot:<verb>:<incident id>, the buttons on incident messages
		parts := strings.Split(i.MessageComponentData().CustomID, ":")
		if len(parts) < 3 || parts[0] != "opsbot" {
			return r, "", false
		}
		id, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil {
			return r, "", false
		}
		if len(parts) == 4 && parts[1] == "upgrade-apply" {
			// opsbot:upgrade-apply:<plan>:<lock hash>
			if id, err := strconv.ParseInt(parts[2], 10, 64); err == nil {
				r.Command, r.Plan, r.Rev = "upgrade apply", id, parts[3]
				return r, "button upgrade-apply", true
			}
		}
		if len(parts) != 3 {
			return r, "", false
		}
		switch parts[1] {
		case "approve", "approve-force":
			r.Command, r.Plan, r.Force = "approve", id, parts[1] == "approve-force"
			return r, "button " + parts[1], true
		}
		r.Command, r.Incident = parts[1], id
		switch incidents.Verb(r.Command) {
		case incidents.Ack, incidents.Close:
		case incidents.Snooze:
			r.Duration = ops.SnoozeFromButton.String()
		default:
			return r, "", false
		}
		return r, "button " + r.Command, true
	}
	return r, "", false
}

// caller names the user and what they may do here.
func (b *Bot) caller(i *discordgo.Interaction, label string) ops.Caller {
	u, roles, dm := i.User, []string(nil), i.Member == nil
	if i.Member != nil {
		u, roles = i.Member.User, i.Member.Roles
	}
	if u == nil {
		return ops.Caller{Actor: "unknown discord user", Via: "discord", Why: "the interaction names no user"}
	}
	name := u.GlobalName
	if name == "" {
		name = u.Username
	}
	c := ops.Caller{Actor: discord.Actor(name, u.ID), Via: "discord"}
	where := "a direct message"
	if !dm {
		where = fmt.Sprintf("guild %s channel %s", i.GuildID, i.ChannelID)
	}
	c.Origin = fmt.Sprintf("discord %s in %s", label, where)
	switch {
	case !dm && !slices.Contains(b.GuildIDs, i.GuildID):
		c.Why = "opsbot takes no commands in this server"
	case !dm && len(b.ChannelIDs) > 0 && !slices.Contains(b.ChannelIDs, i.ChannelID):
		c.Why = "opsbot takes commands in " + mentionChannels(b.ChannelIDs)
	default:
		c.Perm, c.Why = b.Grants.For(u.ID, roles, dm)
	}
	return c
}

func mentionChannels(ids []string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "<#" + id + ">"
	}
	return strings.Join(out, ", ")
}

// handle answers one interaction.
func (b *Bot) handle(i *discordgo.Interaction) {
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		return
	}
	b.running.Add(1)
	b.mu.Unlock()
	defer b.running.Done()

	req, label, ok := request(i)
	if !ok {
		b.respond(i, answer{content: "opsbot does not know this command.", ephemeral: true})
		return
	}
	c := b.caller(i, label)
	// Every interaction is checked here, whatever Discord's own command
	// permissions say: server admins can change those.
	ctx, cancel := context.WithTimeout(context.Background(), b.Timeout)
	defer cancel()
	replies := make(chan ops.Reply, 1)
	go func() { replies <- b.Ops.Do(ctx, c, req) }()
	quiet := (i.Type == discordgo.InteractionMessageComponent && req.Command != "approve" && req.Command != "upgrade apply") ||
		(ops.Needs(req.Command) == ops.Read && label != "/upgrade-apply")
	var rep ops.Reply
	defer func() {
		// An approved run is followed in a message of its own.
		switch {
		case !rep.Kind.Failed() && rep.Run != nil && req.Command == "approve":
			b.running.Add(1)
			go func() {
				defer b.running.Done()
				b.follow(rep.Run.ID, i.ChannelID)
			}()
		case !rep.Kind.Failed() && rep.Apply != nil && req.Command == "upgrade apply":
			b.running.Add(1)
			go func() {
				defer b.running.Done()
				b.followApply(rep.Apply.ID, i.ChannelID)
			}()
		case !rep.Kind.Failed() && rep.Upgrade != nil && rep.Upgrade.State == upgrade.Planning:
			b.running.Add(1)
			go func() {
				defer b.running.Done()
				b.followUpgrade(rep.Upgrade.ID, i.ChannelID)
			}()
		}
	}()
	select {
	case rep = <-replies:
		b.respond(i, render(req, rep, i, quiet, label))
		return
	case <-time.After(b.DeferAfter):
	}
	// The work takes longer: say so now, and edit the answer in later.
	err := b.Session.InteractionRespond(i, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseDeferredChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Flags: flags(quiet)},
	})
	if err != nil {
		b.Log.Error("discord: deferring the answer", "command", label, "err", err)
	}
	rep = <-replies
	a := render(req, rep, i, quiet, label)
	none := &discordgo.MessageAllowedMentions{}
	if a.ephemeral && !quiet {
		// The deferred answer is public, a failure is not: replace it.
		if err := b.Session.InteractionResponseDelete(i); err != nil {
			b.Log.Error("discord: deleting the deferred answer", "command", label, "err", err)
		}
		_, err = b.Session.FollowupMessageCreate(i, true, &discordgo.WebhookParams{Content: a.content, Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: none})
	} else {
		edit := &discordgo.WebhookEdit{Content: &a.content, AllowedMentions: none}
		if len(a.embeds) > 0 {
			edit.Embeds = &a.embeds
		}
		if len(a.components) > 0 {
			edit.Components = &a.components
		}
		_, err = b.Session.InteractionResponseEdit(i, edit)
	}
	if err != nil {
		b.Log.Error("discord: answering", "command", label, "err", err)
	}
}

type answer struct {
	content    string
	embeds     []*discordgo.MessageEmbed
	components []discordgo.MessageComponent
	ephemeral  bool
}

func flags(ephemeral bool) discordgo.MessageFlags {
	if ephemeral {
		return discordgo.MessageFlagsEphemeral
	}
	return 0
}

func (b *Bot) respond(i *discordgo.Interaction, a answer) {
	err := b.Session.InteractionRespond(i, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: a.content, Embeds: a.embeds, Components: a.components, Flags: flags(a.ephemeral),
			AllowedMentions: &discordgo.MessageAllowedMentions{}},
	})
	if err != nil {
		b.Log.Error("discord: answering", "err", err)
	}
}

// render turns a reply into a Discord answer. Refusals and errors are
// ephemeral, as are reads and button presses (quiet); what people do is
// shown to the channel.
func render(req ops.Request, rep ops.Reply, i *discordgo.Interaction, quiet bool, label string) answer {
	if rep.Kind.Failed() {
		return answer{content: truncate(rep.Message, 2000), ephemeral: true}
	}
	a := answer{ephemeral: quiet}
	switch {
	case rep.Plan != nil:
		a = planAnswer(rep.Plan, truncate(rep.Message, 2000))
	case req.Command == "deploys":
		a.embeds = []*discordgo.MessageEmbed{runsEmbed(rep.Runs)}
	case req.Command == "deploy log" && rep.Run != nil:
		a.embeds = []*discordgo.MessageEmbed{runEmbed(rep.Run)}
	case rep.Upgrade != nil && label == "/upgrade-apply":
		a = applyAnswer(rep.Upgrade)
	case rep.Upgrade != nil:
		m := upgradeMessage(rep.Upgrade)
		a.embeds = m.Embeds
		if len(m.Files) > 0 {
			// An answer carries no file here: the start of the report.
			a.embeds[0].Description += "\n```\n" + truncate(rep.Upgrade.Report(), 2800) + "\n```\nThe whole plan: opsbot upgrade show " + fmt.Sprint(rep.Upgrade.ID)
		}
	case rep.Page != nil:
		a.embeds = []*discordgo.MessageEmbed{listEmbed(req, rep.Page)}
	case rep.Status != nil:
		a.embeds = []*discordgo.MessageEmbed{statusEmbed(rep)}
	case req.Command == "incident" && rep.Incident != nil:
		a.embeds = []*discordgo.MessageEmbed{showEmbed(rep.Incident)}
	default:
		who := "someone"
		if u := user(i); u != "" {
			who = "<@" + u + ">"
		}
		a.content = truncate(fmt.Sprintf("%s: %s", who, rep.Message), 2000)
	}
	return a
}

func user(i *discordgo.Interaction) string {
	if i.Member != nil && i.Member.User != nil {
		return i.Member.User.ID
	}
	if i.User != nil {
		return i.User.ID
	}
	return ""
}

func listEmbed(req ops.Request, p *incidents.Page) *discordgo.MessageEmbed {
	state := req.State
	if state == "" {
		state = "open"
	}
	e := &discordgo.MessageEmbed{Title: fmt.Sprintf("%s incidents", strings.ToUpper(state[:1])+state[1:])}
	if len(p.Incidents) == 0 {
		e.Description = "None."
		return e
	}
	var sb strings.Builder
	for n, inc := range p.Incidents {
		line := fmt.Sprintf("**#%d** %s · %s · %s · <t:%d:R>\n", inc.ID, truncate(inc.Title, 120), inc.Severity, inc.State, inc.CreatedAt.Unix())
		if sb.Len()+len(line) > 3900 {
			fmt.Fprintf(&sb, "… and %d more (opsbot incidents list)", len(p.Incidents)-n)
			break
		}
		sb.WriteString(line)
	}
	e.Description = sb.String()
	return e
}

func showEmbed(inc *incidents.Incident) *discordgo.MessageEmbed {
	e := discord.Embed(inc)
	tl := inc.Timeline
	if len(tl) > 10 {
		tl = tl[len(tl)-10:]
	}
	var sb strings.Builder
	for _, t := range tl {
		line := fmt.Sprintf("<t:%d:t> %s", t.At.Unix(), t.Kind)
		if t.Actor != "" {
			line += " by " + discord.Who(t.Actor)
		}
		if t.Detail != "" {
			line += ": " + t.Detail
		}
		line = truncate(line, 200) + "\n"
		if sb.Len()+len(line) > 1024 {
			break
		}
		sb.WriteString(line)
	}
	if sb.Len() > 0 {
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: "Timeline", Value: sb.String()})
	}
	return e
}

func statusEmbed(rep ops.Reply) *discordgo.MessageEmbed {
	st := rep.Status
	e := &discordgo.MessageEmbed{Title: "opsbot status", Description: rep.Message, Color: 0x0e8a16}
	if !st.Healthy {
		e.Color = 0xd93f0b
	}
	for _, sev := range []incidents.Severity{incidents.Critical, incidents.Warning, incidents.Info} {
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: string(sev), Value: strconv.Itoa(st.Open[sev]), Inline: true})
	}
	var sb strings.Builder
	for _, a := range st.Recent {
		fmt.Fprintf(&sb, "<t:%d:R> #%d %s: %s\n", a.At.Unix(), a.IncidentID, truncate(a.Title, 60), a.Kind)
	}
	if sb.Len() > 0 {
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: "Last events", Value: truncate(sb.String(), 1024)})
	}
	return e
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
