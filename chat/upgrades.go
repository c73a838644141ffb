package chat

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/opsbot/opsbot/upgrade"
)

// upgradeCommands are the slash commands of upgrade plans.
func upgradeCommands() []*discordgo.ApplicationCommand {
	one := 1.0
	return []*discordgo.ApplicationCommand{
		{Name: "upgrade-plan", Description: "Plan an upgrade of the flake: what it changes and restarts, per host", Options: []*discordgo.ApplicationCommandOption{
			text("inputs", "The inputs to update, separated by spaces (default: all)", false)}},
		{Name: "upgrade-show", Description: "Show an upgrade plan", Options: []*discordgo.ApplicationCommandOption{
			{Type: discordgo.ApplicationCommandOptionInteger, Name: "plan", Description: "Plan number", Required: true, MinValue: &one}}},
	}
}

// upgradeMessage shows a plan: its summary and, when ready, its report,
// attached as a file when it is long.
func upgradeMessage(p *upgrade.Plan) *discordgo.MessageSend {
	e := &discordgo.MessageEmbed{Title: fmt.Sprintf("Upgrade plan %d", p.ID), Description: truncate(p.Summary(), 1000), Color: 0x1d76db}
	m := &discordgo.MessageSend{Embeds: []*discordgo.MessageEmbed{e}, AllowedMentions: &discordgo.MessageAllowedMentions{}}
	switch p.State {
	case upgrade.Failed:
		e.Color = 0xd93f0b
	case upgrade.Ready:
		e.Color = 0x0e8a16
		report := p.Report()
		if len(report) <= 2900 {
			e.Description += "\n```\n" + report + "\n```"
		} else {
			e.Description += "\nThe whole plan is attached."
			m.Files = []*discordgo.File{{Name: fmt.Sprintf("upgrade-plan-%d.txt", p.ID), ContentType: "text/plain", Reader: strings.NewReader(report)}}
		}
	}
	return m
}

// followUpgrade waits for a plan being made and posts it in channel.
func (b *Bot) followUpgrade(id int64, channel string) {
	u := b.Ops.Upgrades
	for {
		select {
		case <-b.stop:
			return
		case <-time.After(b.EditEvery):
		}
		p, err := u.Plan(context.Background(), id)
		if err != nil {
			b.Log.Error("discord: follow an upgrade plan", "plan", id, "err", err)
			return
		}
		if p.State == upgrade.Planning {
			continue
		}
		if _, err := b.Session.ChannelMessageSendComplex(channel, upgradeMessage(p)); err != nil {
			b.Log.Error("discord: post an upgrade plan", "plan", id, "err", err)
		}
		return
	}
}

// applyCommand is /upgrade-apply: it shows the plan with an Apply button
// bound to the plan's lock file.
func applyCommand() *discordgo.ApplicationCommand {
	one := 1.0
	return &discordgo.ApplicationCommand{Name: "upgrade-apply", Description: "Apply an upgrade plan to the cluster, one node at a time",
		Options: []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionInteger, Name: "plan", Description: "Plan number", Required: true, MinValue: &one}}}
}

// applyAnswer shows a plan to apply with its Apply button.
func applyAnswer(p *upgrade.Plan) answer {
	m := upgradeMessage(p)
	a := answer{embeds: m.Embeds}
	if p.State == upgrade.Ready && len(p.Inputs) > 0 {
		a.embeds[0].Footer = &discordgo.MessageEmbedFooter{Text: "The approval is for flake.lock " + short(p.LockHash) + " only."}
		a.components = []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
			discordgo.Button{Label: "Apply, one node at a time", Style: discordgo.DangerButton,
				CustomID: fmt.Sprintf("opsbot:upgrade-apply:%d:%s", p.ID, short(p.LockHash))},
		}}}
	}
	return a
}

// followApply posts an upgrade's progress in channel and edits it as the
// roll goes (node 2 of 4: draining), to its end.
func (b *Bot) followApply(id int64, channel string) {
	ap := b.Ops.Applier
	embed := applyEmbed
	a, err := ap.Get(context.Background(), id)
	if err != nil {
		return
	}
	msg, err := b.Session.ChannelMessageSendComplex(channel, &discordgo.MessageSend{Embeds: embed(a), AllowedMentions: &discordgo.MessageAllowedMentions{}})
	if err != nil {
		b.Log.Error("discord: post an upgrade", "upgrade", id, "err", err)
		return
	}
	if b.UpgradeRefs != nil {
		b.UpgradeRefs(context.Background(), id, channel+":"+msg.ID)
	}
	last := a.Progress()
	for a.State == upgrade.Applying {
		select {
		case <-b.stop:
			return
		case <-time.After(b.EditEvery):
		}
		if a, err = ap.Get(context.Background(), id); err != nil {
			return
		}
		if p := a.Progress(); p != last {
			last = p
			if _, err := b.Session.ChannelMessageEditEmbeds(channel, msg.ID, embed(a)); err != nil {
				b.Log.Warn("discord: edit an upgrade's message", "upgrade", id, "err", err)
			}
		}
	}
}

// applyEmbed shows an upgrade's progress, node by node.
func applyEmbed(a *upgrade.Apply) []*discordgo.MessageEmbed {
	e := &discordgo.MessageEmbed{Title: fmt.Sprintf("Upgrade %d", a.ID), Description: truncate(a.Progress(), 4000), Color: 0x1d76db}
	switch a.State {
	case upgrade.Done:
		e.Color = 0x0e8a16
	case upgrade.Applying:
	default:
		e.Color = 0xd93f0b
	}
	var sb strings.Builder
	for _, n := range a.Nodes {
		fmt.Fprintf(&sb, "%s (%s): %s\n", n.Node, n.Target, n.State)
	}
	if sb.Len() > 0 {
		e.Fields = []*discordgo.MessageEmbedField{{Name: "Nodes", Value: truncate(sb.String(), 1024)}}
	}
	return []*discordgo.MessageEmbed{e}
}
