package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"
	"golang.org/x/time/rate"

	"github.com/opsbot/opsbot/actiontoken"
	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/notify"
	"github.com/opsbot/opsbot/notify/discord"
	"github.com/opsbot/opsbot/notify/ntfy"
)

// actionKey is http.action_key, or the key kept in data_dir/action.key,
// made on first use.
func actionKey(cfg *config.Config) ([]byte, error) {
	if k := cfg.HTTP.ActionKey.Reveal(); k != "" {
		return []byte(k), nil
	}
	path := filepath.Join(cfg.DataDir, "action.key")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("action key: %w", err)
	}
	k := make([]byte, 32)
	rand.Read(k)
	key := hex.EncodeToString(k)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("action key: %w", err)
	}
	return []byte(key), nil
}

// targets makes the notification targets of the configuration.
func targets(cfg *config.Config, signer *actiontoken.Signer, refs discord.Refs) (map[string]notify.Target, error) {
	out := map[string]notify.Target{}
	if u := cfg.Notify.DiscordAPIURL; u != "" {
		discord.PointAt(u)
	}
	for _, t := range cfg.Notify.Discord {
		n := &discord.Notifier{Target: t.Name, ChannelID: t.ChannelID, Refs: refs}
		for _, st := range cfg.Notify.Escalation.Steps {
			n.Mentions = append(n.Mentions, st.DiscordMention)
		}
		token := "Bot " + t.Token.Reveal()
		if t.WebhookURL != "" {
			id, tok, err := discord.ParseWebhook(t.WebhookURL.Reveal())
			if err != nil {
				return nil, fmt.Errorf("notify.discord %s: %w", t.Name, err)
			}
			n.WebhookID, n.WebhookToken, token = id, tok, ""
		}
		session, err := discordgo.New(token)
		if err != nil {
			return nil, fmt.Errorf("notify.discord %s: %w", t.Name, err)
		}
		session.Client = &http.Client{Timeout: 15 * time.Second}
		n.Session = session
		out[t.Name] = notify.Target{Notifier: n, Limit: rate.NewLimiter(rate.Limit(t.RatePerMinute/60), t.Burst)}
	}
	for _, t := range cfg.Notify.Ntfy {
		out[t.Name] = notify.Target{
			Notifier: &ntfy.Notifier{
				URL: t.URL, Topic: t.Topic, Token: t.Token.Reveal(), Username: t.Username, Password: t.Password.Reveal(),
				PublicURL: cfg.HTTP.PublicURL, Signer: signer, Client: &http.Client{Timeout: 15 * time.Second},
				EscalationPriority: escalationPriorities(cfg),
			},
			Limit: rate.NewLimiter(rate.Limit(t.RatePerMinute/60), t.Burst),
		}
	}
	return out, nil
}

// escalationPriorities are ntfy's priorities by escalation step (index 0
// is step 1); 0 leaves the priority as it is.
func escalationPriorities(cfg *config.Config) []int {
	var out []int
	for _, st := range cfg.Notify.Escalation.Steps {
		out = append(out, st.NtfyPriority)
	}
	return out
}
