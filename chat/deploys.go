package chat

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/notify/discord"
)

// deployCommands are the slash commands of deploys; targets, if 25 or
// fewer, are offered as choices.
func deployCommands(targets []string) []*discordgo.ApplicationCommand {
	target := func(required bool) *discordgo.ApplicationCommandOption {
		o := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: "target", Description: "The target", Required: required}
		if len(targets) <= 25 {
			o.Choices = choices(targets...)
		}
		return o
	}
	rev := text("rev", "A commit id or tag on the branch (default: the head; a rollback: the previous good one)", false)
	one := 1.0
	return []*discordgo.ApplicationCommand{
		{Name: "deploy", Description: "Deploy a target: shows the plan, asks for approval", Options: []*discordgo.ApplicationCommandOption{target(true), rev}},
		{Name: "rollback", Description: "Roll a target back: shows the plan, asks for approval", Options: []*discordgo.ApplicationCommandOption{target(true), rev}},
		{Name: "deploys", Description: "The last deploys and rollbacks", Options: []*discordgo.ApplicationCommandOption{target(false)}},
		{Name: "deploy-log", Description: "A run's output", Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionInteger, Name: "run", Description: "Run number", Required: true, MinValue: &one}}},
	}
}

// approveID is the custom id of a plan's approval button.
func approveID(plan int64, force bool) string {
	if force {
		return fmt.Sprintf("opsbot:approve-force:%d", plan)
	}
	return fmt.Sprintf("opsbot:approve:%d", plan)
}

func planAnswer(p *deploy.Plan, msg string) answer {
	e := &discordgo.MessageEmbed{Title: truncate(fmt.Sprintf("Plan %d: %s %s", p.ID, p.Kind, p.Target), 256), Color: 0x1d76db}
	from := "nothing deployed by opsbot yet"
	if p.From != "" {
		from = "`" + short(p.From) + "`"
	}
	e.Fields = []*discordgo.MessageEmbedField{
		{Name: "From", Value: from, Inline: true},
		{Name: "To", Value: "`" + short(p.To) + "`", Inline: true},
		{Name: "Asked by", Value: discord.Who(p.RequestedBy), Inline: true},
	}
	if len(p.Commits) > 0 {
		e.Fields = append(e.Fields, &discordgo.MessageEmbedField{Name: "Commits", Value: truncate("```\n"+strings.Join(p.Commits, "\n")+"\n```", 1024)})
	}
	label, style := "Approve "+p.Kind, discordgo.DangerButton
	if p.Rewritten {
		e.Description = "⚠ The branch history was rewritten (force-pushed) since opsbot last saw it."
		label = "Approve despite the rewrite"
	}
	if p.SecondApproval {
		e.Description += "\nThis target needs a second person: someone other than who asked approves."
	}
	e.Footer = &discordgo.MessageEmbedFooter{Text: fmt.Sprintf("The approval is for exactly %s; it expires at %s.", short(p.To), p.ExpiresAt.UTC().Format("15:04 UTC"))}
	return answer{content: msg, embeds: []*discordgo.MessageEmbed{e}, components: []discordgo.MessageComponent{
		discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.Button{Label: label, Style: style, CustomID: approveID(p.ID, p.Rewritten)},
		}},
	}}
}

func runsEmbed(runs []deploy.Run) *discordgo.MessageEmbed {
	e := &discordgo.MessageEmbed{Title: "Deploys"}
	if len(runs) == 0 {
		e.Description = "None yet."
		return e
	}
	var sb strings.Builder
	for _, r := range runs {
		line := fmt.Sprintf("**#%d** %s %s → `%s` · %s · by %s · <t:%d:R>\n", r.ID, r.Kind, r.Target, short(r.To), r.State, discord.Who(r.Actor), r.StartedAt.Unix())
		if sb.Len()+len(line) > 3900 {
			break
		}
		sb.WriteString(line)
	}
	e.Description = sb.String()
	return e
}

// runEmbed shows a run: its state, phase and the tail of its output.
func runEmbed(r *deploy.Run) *discordgo.MessageEmbed {
	e := &discordgo.MessageEmbed{Title: truncate(fmt.Sprintf("Run #%d: %s %s → %s", r.ID, r.Kind, r.Target, short(r.To)), 256)}
	switch r.State {
	case deploy.Running:
		e.Color, e.Description = 0x1d76db, "⏳ "+r.Phase
	case deploy.Succeeded:
		e.Color, e.Description = 0x0e8a16, "✅ "+r.Outcome
	default:
		e.Color, e.Description = 0xd93f0b, "❌ "+r.State+": "+r.Outcome
	}
	approved := ""
	if r.ApprovedBy != "" && r.ApprovedBy != r.Actor {
		approved = ", approved by " + discord.Who(r.ApprovedBy)
	}
	e.Description += fmt.Sprintf("\nby %s%s", discord.Who(r.Actor), approved)
	if tail := tailOf(r.Output, 900); tail != "" {
		e.Fields = []*discordgo.MessageEmbedField{{Name: "Output", Value: "```\n" + strings.ReplaceAll(tail, "```", "'''") + "\n```"}}
	}
	return e
}

// tailOf is the end of s, at most n bytes, from a line start.
func tailOf(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
}

// follow posts a message for a run in channel and edits it as the run
// goes, at most every EditEvery, to its end, then follows an automatic
// rollback the same way.
func (b *Bot) follow(id int64, channel string) {
	d := b.Ops.Deploys
	if d == nil {
		return
	}
	ctx := context.Background()
	r, changed, err := d.Follow(ctx, id)
	if err != nil {
		b.Log.Error("discord: follow a run", "run", id, "err", err)
		return
	}
	msg, err := b.Session.ChannelMessageSendComplex(channel, &discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{runEmbed(r)},
		AllowedMentions: &discordgo.MessageAllowedMentions{}})
	if err != nil {
		b.Log.Error("discord: post a run", "run", id, "err", err)
		return
	}
	if b.ChatRefs != nil {
		b.ChatRefs(ctx, id, channel+":"+msg.ID)
	}
	last := time.Now()
	for changed != nil {
		select {
		case <-changed:
		case <-b.stop:
			return
		}
		if wait := b.EditEvery - time.Since(last); wait > 0 {
			select {
			case <-time.After(wait):
			case <-b.stop:
				return
			}
		}
		if r, changed, err = d.Follow(ctx, id); err != nil {
			b.Log.Error("discord: follow a run", "run", id, "err", err)
			return
		}
		embeds := []*discordgo.MessageEmbed{runEmbed(r)}
		if _, err := b.Session.ChannelMessageEditEmbeds(channel, msg.ID, embeds); err != nil {
			b.Log.Warn("discord: edit a run's message", "run", id, "err", err)
		}
		last = time.Now()
	}
	if r.State == deploy.RolledBack {
		runs, err := d.Runs(ctx, r.Target, 10)
		if err != nil {
			return
		}
		for _, x := range runs {
			if x.ParentID == r.ID {
				b.follow(x.ID, channel)
			}
		}
	}
}

// TellInterrupted edits the messages of runs a restart interrupted.
func (b *Bot) tellInterrupted() {
	for _, r := range b.Interrupted {
		channel, msg, ok := strings.Cut(r.ChatRef, ":")
		if !ok {
			continue
		}
		r.Outcome = "opsbot restarted during the run; the run is marked interrupted and its lock released. Check the target, then deploy again."
		if _, err := b.Session.ChannelMessageEditEmbeds(channel, msg, []*discordgo.MessageEmbed{runEmbed(&r)}); err != nil {
			b.Log.Warn("discord: tell an interrupted run", "run", r.ID, "err", err)
		}
	}
	for _, a := range b.InterruptedUpgrades {
		channel, msg, ok := strings.Cut(a.ChatRef, ":")
		if !ok {
			continue
		}
		a.Error = "opsbot restarted during the upgrade; check the node, uncordon it when it is well, and apply a new plan"
		if _, err := b.Session.ChannelMessageEditEmbeds(channel, msg, applyEmbed(&a)); err != nil {
			b.Log.Warn("discord: tell an interrupted upgrade", "upgrade", a.ID, "err", err)
		}
	}
}

func short(rev string) string { return rev[:min(len(rev), 12)] }
