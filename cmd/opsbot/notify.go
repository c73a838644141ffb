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

	"golang.org/x/time/rate"

	"github.com/opsbot/opsbot/actiontoken"
	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/notify"
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
func targets(cfg *config.Config, signer *actiontoken.Signer) (map[string]notify.Target, []string) {
	out := map[string]notify.Target{}
	var names []string
	for _, t := range cfg.Notify.Ntfy {
		out[t.Name] = notify.Target{
			Notifier: &ntfy.Notifier{
				URL: t.URL, Topic: t.Topic, Token: t.Token.Reveal(), Username: t.Username, Password: t.Password.Reveal(),
				PublicURL: cfg.HTTP.PublicURL, Signer: signer, Client: &http.Client{Timeout: 15 * time.Second},
			},
			Limit: rate.NewLimiter(rate.Limit(t.RatePerMinute/60), t.Burst),
		}
		names = append(names, t.Name)
	}
	return out, names
}
