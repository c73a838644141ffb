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
