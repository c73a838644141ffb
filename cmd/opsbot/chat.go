package main

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/opsbot/opsbot/chat"
	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/notify/discord"
	"github.com/opsbot/opsbot/ops"
	"github.com/opsbot/opsbot/upgrade"
)

// startBot starts the Discord bot, if one is configured; stop closes it
// and waits for the commands it is answering.
func startBot(cfg *config.Config, svc *ops.Service, deploys *deploy.Service, interrupted []deploy.Run, upgrades []upgrade.Apply, log *slog.Logger) (stop func(), err error) {
	d := cfg.Chat.Discord
	if d.Token == "" {
		log.Info("chat: no Discord bot configured (chat.discord.token); Discord commands are off")
		return func() {}, nil
	}
	if u := cfg.Notify.DiscordAPIURL; u != "" {
		discord.PointAt(u)
	}
	session, err := discordgo.New("Bot " + d.Token.Reveal())
	if err != nil {
		return nil, err
	}
	grants := chat.Grants{Users: map[string]ops.Perm{}, Roles: map[string]ops.Perm{}}
	grants.Default, _ = ops.ParsePerm(d.DefaultPermission)
	for id, p := range d.Users {
		grants.Users[id], _ = ops.ParsePerm(p)
	}
	for id, p := range d.Roles {
		grants.Roles[id], _ = ops.ParsePerm(p)
	}
	bot := &chat.Bot{
		Session: session, AppID: d.ApplicationID, GuildIDs: d.GuildIDs, ChannelIDs: d.ChannelIDs, Grants: grants,
		Ops: svc, Log: log, DeferAfter: 2 * time.Second, Timeout: 5 * time.Minute, EditEvery: 3 * time.Second,
		Interrupted: interrupted, InterruptedUpgrades: upgrades,
	}
	if ap, ok := svc.Applier.(*upgrade.Applier); ok {
		bot.UpgradeRefs = ap.SetChatRef
	}
	if deploys != nil {
		bot.ChatRefs = deploys.SetChatRef
		for _, t := range cfg.Deploy.Targets {
			bot.Targets = append(bot.Targets, t.Name)
		}
		for g := range cfg.Deploy.Groups {
			bot.Targets = append(bot.Targets, g)
		}
		sort.Strings(bot.Targets)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bot.Run(ctx)
	}()
	return func() { cancel(); <-done }, nil
}
