// Package config reads opsbot's YAML configuration: strictly (an unknown
// key is an error), on top of the defaults, with secrets inline or from
// files, and checked by Validate, which names the offending key.
package config

import (
	// CRON_TZ zones work without the system's zone files.
	_ "time/tzdata"

	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/opsbot/opsbot/incidents"
	"gopkg.in/yaml.v3"
)

// Config is the whole configuration. config.example.yaml documents every key.
type Config struct {
	DataDir   string          `yaml:"data_dir"`
	Log       LogConfig       `yaml:"log"`
	HTTP      HTTPConfig      `yaml:"http"`
	NATS      NATSConfig      `yaml:"nats"`
	Store     StoreConfig     `yaml:"store"`
	Incidents IncidentsConfig `yaml:"incidents"`
	Sources   SourcesConfig   `yaml:"sources"`
	Checks    ChecksConfig    `yaml:"checks"`
	Notify    NotifyConfig    `yaml:"notify"`
	// Alertmanager is where people's silences are made.
	Alertmanager AlertmanagerAPIConfig `yaml:"alertmanager"`
	Chat         ChatConfig            `yaml:"chat"`
	Repo         RepoConfig            `yaml:"repo"`
	Deploy       DeployConfig          `yaml:"deploy"`
	Kube         KubeConfig            `yaml:"kube"`
	Upgrade      UpgradeConfig         `yaml:"upgrade"`
	Reports      ReportsConfig         `yaml:"reports"`
}

// ChatConfig is where people give commands.
type ChatConfig struct {
	Discord DiscordBot `yaml:"discord"`
}

// DiscordBot is the Discord bot that takes slash commands and buttons;
// without a token it is off.
type DiscordBot struct {
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// ApplicationID is the bot's application; empty: the one the gateway
	// names.
	ApplicationID string `yaml:"application_id"`
	// GuildIDs are the servers whose commands are taken; the slash
	// commands are registered in each.
	GuildIDs []string `yaml:"guild_ids"`
	// ChannelIDs, if any, are the only channels commands are taken in.
	ChannelIDs []string `yaml:"channel_ids"`
	// DefaultPermission is what members not listed may do: none or read.
	DefaultPermission string `yaml:"default_permission"`
	// Users and Roles grant permission classes (read, respond, operate)
	// by Discord user id and role id.
	Users map[string]string `yaml:"users"`
	Roles map[string]string `yaml:"roles"`
}

// AlertmanagerAPIConfig is an Alertmanager's API, for silences.
type AlertmanagerAPIConfig struct {
	// URL of the Alertmanager (http://alertmanager:9093); empty: none.
	URL       string `yaml:"url"`
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
}

// NotifyConfig is how people are told: the outbox and its targets.
type NotifyConfig struct {
	// GiveUpAfter: a notification not delivered by then is given up.
	GiveUpAfter time.Duration   `yaml:"give_up_after"`
	MinBackoff  time.Duration   `yaml:"min_backoff"`
	MaxBackoff  time.Duration   `yaml:"max_backoff"`
	Ntfy        []NtfyTarget    `yaml:"ntfy"`
	Discord     []DiscordTarget `yaml:"discord"`
	// Routes choose targets by severity, source and labels, in order;
	// DefaultTargets take what no route matches (empty: every target).
	Routes         []RouteConfig `yaml:"routes"`
	DefaultTargets []string      `yaml:"default_targets"`
	Escalation     Escalation    `yaml:"escalation"`
	// DiscordAPIURL points discordgo elsewhere than https://discord.com (a
	// proxy); empty is Discord.
	DiscordAPIURL string `yaml:"discord_api_url"`
}

// Escalation: an incident not acknowledged Steps[0].After after it was
// triggered reaches step 1, Steps[1].After later step 2, and so on; each
// step notifies again.
type Escalation struct {
	Steps []EscalationStep `yaml:"steps"`
	// Repeat the last step, every last After, until acknowledged.
	Repeat bool `yaml:"repeat"`
}

// EscalationStep is one step of escalation.
type EscalationStep struct {
	After time.Duration `yaml:"after"`
	// NtfyPriority is ntfy's priority from this step on (0: unchanged).
	NtfyPriority int `yaml:"ntfy_priority"`
	// DiscordMention is posted to Discord targets when the step is
	// reached: "<@&role id>" or "<@user id>".
	DiscordMention string `yaml:"discord_mention"`
}

// RouteConfig is one routing rule.
type RouteConfig struct {
	Severities []string          `yaml:"severities"`
	Sources    []string          `yaml:"sources"`
	Labels     map[string]string `yaml:"labels"`
	Targets    []string          `yaml:"targets"`
	Continue   bool              `yaml:"continue"`
}

// DiscordTarget is a Discord channel: a bot token and channel id (with
// buttons), or a webhook URL (without).
type DiscordTarget struct {
	Name           string  `yaml:"name"`
	Token          Secret  `yaml:"token"`
	TokenFile      string  `yaml:"token_file"`
	ChannelID      string  `yaml:"channel_id"`
	WebhookURL     Secret  `yaml:"webhook_url"`
	WebhookURLFile string  `yaml:"webhook_url_file"`
	RatePerMinute  float64 `yaml:"rate_per_minute"`
	Burst          int     `yaml:"burst"`
}

// NtfyTarget is an ntfy server and topic.
type NtfyTarget struct {
	Name         string `yaml:"name"`
	URL          string `yaml:"url"`
	Topic        string `yaml:"topic"`
	Token        Secret `yaml:"token"`
	TokenFile    string `yaml:"token_file"`
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// RatePerMinute and Burst limit what is sent to this target.
	RatePerMinute float64 `yaml:"rate_per_minute"`
	Burst         int     `yaml:"burst"`
}

// ChecksConfig are the checks opsbot runs itself, on a schedule.
type ChecksConfig struct {
	Drift          DriftCheckConfig          `yaml:"drift"`
	VersionChecker VersionCheckerCheckConfig `yaml:"version_checker"`
}

// VersionCheckerCheckConfig scrapes jetstack version-checker's metrics.
type VersionCheckerCheckConfig struct {
	Enabled  bool              `yaml:"enabled"`
	URL      string            `yaml:"url"`
	Schedule string            `yaml:"schedule"`
	Timeout  time.Duration     `yaml:"timeout"`
	Severity string            `yaml:"severity"`
	Labels   map[string]string `yaml:"labels"`
}

// DriftCheckConfig compares what hosts run with the repo's branch head.
type DriftCheckConfig struct {
	Enabled bool `yaml:"enabled"`
	// Schedule is a cron spec (with optional seconds, descriptors such as
	// @every 5m, and CRON_TZ=).
	Schedule string            `yaml:"schedule"`
	Repo     string            `yaml:"repo"`
	Branch   string            `yaml:"branch"`
	Timeout  time.Duration     `yaml:"timeout"`
	Severity string            `yaml:"severity"`
	Labels   map[string]string `yaml:"labels"`
	Hosts    []DriftHost       `yaml:"hosts"`
}

// DriftHost is a host and how to read the revision it runs.
type DriftHost struct {
	Name     string   `yaml:"name"`
	Revision []string `yaml:"revision"`
}

type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

type HTTPConfig struct {
	Listen string `yaml:"listen"`
	// PublicURL is where phones reach opsbot: notification buttons and
	// links point there. Empty: no buttons.
	PublicURL string `yaml:"public_url"`
	// ActionKey signs notification buttons; empty: one is made and kept in
	// data_dir/action.key.
	ActionKey     Secret        `yaml:"action_key"`
	ActionKeyFile string        `yaml:"action_key_file"`
	ActionTTL     time.Duration `yaml:"action_ttl"`
	MaxBodyBytes  int64         `yaml:"max_body_bytes"`
	WaitTimeout   time.Duration `yaml:"wait_timeout"`
	Tokens        []Token       `yaml:"tokens"`
}

// Token is a bearer token; Name says who holds it in logs and timelines.
type Token struct {
	Name      string `yaml:"name"`
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Permissions: read (GET the API), respond (also act on incidents and
	// silences), operate (also maintenance windows); the highest listed
	// counts. Empty: all. Hooks need none.
	Permissions []string `yaml:"permissions"`
}

type NATSConfig struct {
	URL             string        `yaml:"url"`
	CredentialsFile string        `yaml:"credentials_file"`
	Listen          string        `yaml:"listen"`
	SyncAlways      bool          `yaml:"sync_always"`
	Stream          string        `yaml:"stream"`
	Replicas        int           `yaml:"replicas"`
	DuplicateWindow time.Duration `yaml:"duplicate_window"`
	MaxAge          time.Duration `yaml:"max_age"`
	AckWait         time.Duration `yaml:"ack_wait"`
	BatchSize       int           `yaml:"batch_size"`
	PublishTimeout  time.Duration `yaml:"publish_timeout"`
}

type StoreConfig struct {
	Synchronous string `yaml:"synchronous"`
}

type IncidentsConfig struct {
	// AckTimeout: acknowledged and still open this long, an incident is
	// triggered again; 0 never.
	AckTimeout time.Duration `yaml:"ack_timeout"`
	// More than FlapChanges state changes within FlapWindow make an
	// incident flapping; 0 never.
	FlapChanges int           `yaml:"flap_changes"`
	FlapWindow  time.Duration `yaml:"flap_window"`
	// More than StormOpens incidents opening within StormWindow are an
	// alert storm: one digest is shown instead of them; 0 never.
	StormOpens      int           `yaml:"storm_opens"`
	StormWindow     time.Duration `yaml:"storm_window"`
	ReopenWindow    time.Duration `yaml:"reopen_window"`
	MaxSnooze       time.Duration `yaml:"max_snooze"`
	DefaultSeverity string        `yaml:"default_severity"`
}

type SourcesConfig struct {
	Alertmanager AlertmanagerConfig `yaml:"alertmanager"`
	UptimeKuma   UptimeKumaConfig   `yaml:"uptime_kuma"`
	Gatus        GatusConfig        `yaml:"gatus"`
	Diun         DiunConfig         `yaml:"diun"`
	Drift        DriftConfig        `yaml:"drift"`
}

// SourceCommon are the keys every source has.
type SourceCommon struct {
	// Enabled: a disabled source's hook answers 404 and its NATS payloads
	// are dropped.
	Enabled bool `yaml:"enabled"`
	// Token is accepted on this source's hook only, besides http.tokens.
	Token     Secret `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// Labels are added to every event of the source that lacks them.
	Labels map[string]string `yaml:"labels"`
}

type AlertmanagerConfig struct {
	SourceCommon `yaml:",inline"`
	// GroupBy: empty groups by Alertmanager's own groupKey; otherwise one
	// incident per combination of these label values.
	GroupBy       []string          `yaml:"group_by"`
	SeverityLabel string            `yaml:"severity_label"`
	Severities    map[string]string `yaml:"severities"`
}

type UptimeKumaConfig struct {
	SourceCommon `yaml:",inline"`
	Severity     string `yaml:"severity"`
	// GroupBy is "monitor" (an incident per monitor) or "tag:NAME" (per
	// value of the monitor's tag NAME).
	GroupBy string `yaml:"group_by"`
}

type GatusConfig struct {
	SourceCommon `yaml:",inline"`
	Severity     string `yaml:"severity"`
	// GroupBy is "group" (an incident per endpoint group) or "endpoint".
	GroupBy string `yaml:"group_by"`
}

type DiunConfig struct {
	SourceCommon `yaml:",inline"`
	// Page: image updates open incidents instead of being kept as notices.
	Page     bool   `yaml:"page"`
	Severity string `yaml:"severity"`
}

type DriftConfig struct {
	SourceCommon `yaml:",inline"`
	Severity     string `yaml:"severity"`
}

// Default is the configuration with no file: embedded NATS, data in
// ./opsbot-data, HTTP on loopback, no tokens.
func Default() Config {
	return Config{
		DataDir: "opsbot-data",
		Log:     LogConfig{Level: "info", Format: "text"},
		HTTP: HTTPConfig{Listen: "127.0.0.1:8080", MaxBodyBytes: 1 << 20, WaitTimeout: 10 * time.Second, Tokens: []Token{},
			ActionTTL: 24 * time.Hour},
		Notify: NotifyConfig{GiveUpAfter: 24 * time.Hour, MinBackoff: time.Second, MaxBackoff: 5 * time.Minute, Ntfy: []NtfyTarget{},
			Discord: []DiscordTarget{}, Routes: []RouteConfig{}, DefaultTargets: []string{},
			Escalation: Escalation{Steps: []EscalationStep{}}},
		NATS: NATSConfig{
			Listen: "127.0.0.1:4222", Stream: "OPSBOT", Replicas: 1,
			DuplicateWindow: 2 * time.Minute, MaxAge: 7 * 24 * time.Hour, AckWait: 10 * time.Second,
			BatchSize: 256, PublishTimeout: 5 * time.Second,
		},
		Store:   StoreConfig{Synchronous: "full"},
		Repo:    RepoConfig{Branch: "main", Timeout: 2 * time.Minute},
		Kube:    KubeConfig{Poll: 2 * time.Second},
		Reports: ReportsConfig{Upgrade: UpgradeReportConfig{Schedule: "CRON_TZ=UTC 0 6 * * 1", Targets: []string{}}},
		Upgrade: UpgradeConfig{Hosts: []string{}, Timeout: time.Hour, Nodes: []UpgradeNode{}, Snapshot: []string{},
			DrainTimeout: 10 * time.Minute, ReadyTimeout: 10 * time.Minute, OnFailure: "stop", Build: []string{"nix", "build", "--no-link", "--json",
				"{repo_dir}#nixosConfigurations.{host}.config.system.build.toplevel"}},
		Deploy: DeployConfig{PlanTTL: 15 * time.Minute, OutputLimitBytes: 1 << 20, Timeout: 30 * time.Minute,
			Targets: []DeployTarget{}, Groups: map[string][]string{}},
		Chat: ChatConfig{Discord: DiscordBot{GuildIDs: []string{}, ChannelIDs: []string{}, DefaultPermission: "read",
			Users: map[string]string{}, Roles: map[string]string{}}},
		Incidents: IncidentsConfig{FlapChanges: 4, FlapWindow: 30 * time.Minute, StormOpens: 20, StormWindow: time.Minute, ReopenWindow: 30 * time.Minute, MaxSnooze: 7 * 24 * time.Hour, DefaultSeverity: "warning"},
		Sources: SourcesConfig{
			Alertmanager: AlertmanagerConfig{
				SourceCommon:  enabled(),
				GroupBy:       []string{},
				SeverityLabel: "severity",
				Severities: map[string]string{
					"critical": "critical", "page": "critical", "error": "critical",
					"warning": "warning", "warn": "warning",
					"info": "info", "none": "info",
				},
			},
			UptimeKuma: UptimeKumaConfig{SourceCommon: enabled(), Severity: "critical", GroupBy: "monitor"},
			Gatus:      GatusConfig{SourceCommon: enabled(), Severity: "critical", GroupBy: "group"},
			Diun:       DiunConfig{SourceCommon: enabled(), Severity: "info"},
			Drift:      DriftConfig{SourceCommon: enabled(), Severity: "warning"},
		},
		Checks: ChecksConfig{Drift: DriftCheckConfig{
			Schedule: "@every 5m", Branch: "main", Timeout: time.Minute, Severity: "warning",
			Labels: map[string]string{}, Hosts: []DriftHost{},
		},
			VersionChecker: VersionCheckerCheckConfig{Schedule: "@every 15m", Timeout: 30 * time.Second, Severity: "info", Labels: map[string]string{}},
		},
	}
}

func enabled() SourceCommon { return SourceCommon{Enabled: true, Labels: map[string]string{}} }

// Common returns every source's common keys by source name.
func (s *SourcesConfig) Common() map[string]*SourceCommon {
	return map[string]*SourceCommon{
		"alertmanager": &s.Alertmanager.SourceCommon, "uptime-kuma": &s.UptimeKuma.SourceCommon,
		"gatus": &s.Gatus.SourceCommon, "diun": &s.Diun.SourceCommon, "drift": &s.Drift.SourceCommon,
	}
}

// Load reads the file at path over the defaults ("" is the defaults alone)
// and reads secret files. It does not validate: flags may still change it.
func Load(path string) (*Config, error) {
	cfg := Default()
	if path != "" {
		body, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := Parse(body, &cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := cfg.readSecrets(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return &cfg, nil
}

// Parse decodes YAML strictly into cfg, which holds the defaults.
func Parse(body []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	// Targets left without limits get the documented ones.
	for i := range cfg.Notify.Ntfy {
		t := &cfg.Notify.Ntfy[i]
		if t.RatePerMinute == 0 && t.Burst == 0 {
			t.RatePerMinute, t.Burst = 20, 5
		}
	}
	for i := range cfg.Notify.Discord {
		t := &cfg.Notify.Discord[i]
		if t.RatePerMinute == 0 && t.Burst == 0 {
			t.RatePerMinute, t.Burst = 30, 5
		}
	}
	return nil
}

// readSecret fills *s from file, if one is named; not both.
func readSecret(key string, s *Secret, file string) error {
	if file == "" {
		return nil
	}
	if *s != "" {
		return fmt.Errorf("%s: give it or %s_file, not both", key, key)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%s_file: %w", key, err)
	}
	*s = Secret(strings.TrimSpace(string(b)))
	return nil
}

func (c *Config) readSecrets() error {
	if err := readSecret("http.action_key", &c.HTTP.ActionKey, c.HTTP.ActionKeyFile); err != nil {
		return err
	}
	if err := readSecret("alertmanager.token", &c.Alertmanager.Token, c.Alertmanager.TokenFile); err != nil {
		return err
	}
	if err := readSecret("chat.discord.token", &c.Chat.Discord.Token, c.Chat.Discord.TokenFile); err != nil {
		return err
	}
	for i := range c.Notify.Discord {
		d := &c.Notify.Discord[i]
		if err := readSecret(fmt.Sprintf("notify.discord[%d].token", i), &d.Token, d.TokenFile); err != nil {
			return err
		}
		if err := readSecret(fmt.Sprintf("notify.discord[%d].webhook_url", i), &d.WebhookURL, d.WebhookURLFile); err != nil {
			return err
		}
	}
	for i := range c.Notify.Ntfy {
		n := &c.Notify.Ntfy[i]
		if err := readSecret(fmt.Sprintf("notify.ntfy[%d].token", i), &n.Token, n.TokenFile); err != nil {
			return err
		}
		if err := readSecret(fmt.Sprintf("notify.ntfy[%d].password", i), &n.Password, n.PasswordFile); err != nil {
			return err
		}
	}
	for name, sc := range c.Sources.Common() {
		if sc.TokenFile == "" {
			continue
		}
		if sc.Token != "" {
			return fmt.Errorf("sources.%s: give token or token_file, not both", name)
		}
		b, err := os.ReadFile(sc.TokenFile)
		if err != nil {
			return fmt.Errorf("sources.%s.token_file: %w", name, err)
		}
		sc.Token = Secret(strings.TrimSpace(string(b)))
	}
	for i := range c.HTTP.Tokens {
		t := &c.HTTP.Tokens[i]
		if t.TokenFile == "" {
			continue
		}
		if t.Token != "" {
			return fmt.Errorf("http.tokens[%d]: give token or token_file, not both", i)
		}
		b, err := os.ReadFile(t.TokenFile)
		if err != nil {
			return fmt.Errorf("http.tokens[%d].token_file: %w", i, err)
		}
		t.Token = Secret(strings.TrimSpace(string(b)))
	}
	return nil
}

var streamRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks the configuration and names the key at fault.
func (c *Config) Validate() error {
	if err := c.Chat.Discord.validate(); err != nil {
		return err
	}
	if err := c.validateDeploy(); err != nil {
		return err
	}
	if err := c.validateUpgrade(); err != nil {
		return err
	}
	if err := c.validateReports(); err != nil {
		return err
	}
	if c.DataDir == "" {
		return errors.New("data_dir: must not be empty")
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: must be text or json, not %q", c.Log.Format)
	}
	host, _, err := net.SplitHostPort(c.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	if len(c.HTTP.Tokens) == 0 && !isLoopback(host) {
		return fmt.Errorf("http.listen: %s is not a loopback address, and with no http.tokens configured anyone who can reach it could post alerts and act on incidents; add a token or listen on 127.0.0.1", c.HTTP.Listen)
	}
	if c.HTTP.MaxBodyBytes < 1024 {
		return errors.New("http.max_body_bytes: must be at least 1024")
	}
	if c.HTTP.WaitTimeout <= 0 {
		return errors.New("http.wait_timeout: must be positive")
	}
	names := map[string]bool{}
	for i, t := range c.HTTP.Tokens {
		switch {
		case t.Name == "":
			return fmt.Errorf("http.tokens[%d].name: is required", i)
		case names[t.Name]:
			return fmt.Errorf("http.tokens[%d].name: %q is used twice", i, t.Name)
		case len(t.Token) < 16:
			return fmt.Errorf("http.tokens[%d].token: must be at least 16 characters (try: openssl rand -hex 32)", i)
		}
		for _, p := range t.Permissions {
			if p != "read" && p != "respond" && p != "operate" {
				return fmt.Errorf("http.tokens[%d].permissions: %q is not read, respond or operate", i, p)
			}
		}
		names[t.Name] = true
	}
	n := c.NATS
	if n.URL == "" {
		if n.Listen != "" {
			host, _, err := net.SplitHostPort(n.Listen)
			if err != nil {
				return fmt.Errorf("nats.listen: %w", err)
			}
			if !isLoopback(host) {
				return fmt.Errorf("nats.listen: the embedded NATS server listens on loopback only, not %q", host)
			}
		}
	} else if n.CredentialsFile != "" {
		if _, err := os.Stat(n.CredentialsFile); err != nil {
			return fmt.Errorf("nats.credentials_file: %w", err)
		}
	}
	switch {
	case !streamRE.MatchString(n.Stream):
		return fmt.Errorf("nats.stream: %q is not a valid stream name", n.Stream)
	case n.Replicas < 1 || n.Replicas > 5:
		return errors.New("nats.replicas: must be between 1 and 5")
	case n.DuplicateWindow <= 0:
		return errors.New("nats.duplicate_window: must be positive")
	case n.MaxAge < n.DuplicateWindow:
		return errors.New("nats.max_age: must be at least nats.duplicate_window")
	case n.AckWait < time.Second:
		return errors.New("nats.ack_wait: must be at least 1s")
	case n.BatchSize < 1 || n.BatchSize > 10000:
		return errors.New("nats.batch_size: must be between 1 and 10000")
	case n.PublishTimeout <= 0:
		return errors.New("nats.publish_timeout: must be positive")
	}
	if c.Store.Synchronous != "full" && c.Store.Synchronous != "normal" {
		return fmt.Errorf("store.synchronous: must be full or normal, not %q", c.Store.Synchronous)
	}
	if c.Incidents.ReopenWindow < 0 {
		return errors.New("incidents.reopen_window: must not be negative")
	}
	if c.Incidents.FlapChanges < 0 || (c.Incidents.FlapChanges > 0 && c.Incidents.FlapWindow < time.Second) {
		return errors.New("incidents.flap_changes, flap_window: changes must not be negative, and the window at least 1s")
	}
	if c.Incidents.StormOpens < 0 || (c.Incidents.StormOpens > 0 && c.Incidents.StormWindow < time.Second) {
		return errors.New("incidents.storm_opens, storm_window: opens must not be negative, and the window at least 1s")
	}
	if c.Incidents.AckTimeout < 0 {
		return errors.New("incidents.ack_timeout: must not be negative")
	}
	for i, st := range c.Notify.Escalation.Steps {
		if st.After < time.Second {
			return fmt.Errorf("notify.escalation.steps[%d].after: must be at least 1s", i)
		}
		if st.NtfyPriority < 0 || st.NtfyPriority > 5 {
			return fmt.Errorf("notify.escalation.steps[%d].ntfy_priority: must be 1 to 5 (0: unchanged)", i)
		}
		if m := st.DiscordMention; m != "" && !mentionRE.MatchString(m) {
			return fmt.Errorf("notify.escalation.steps[%d].discord_mention: %q is not <@&ROLE_ID> or <@USER_ID>", i, m)
		}
	}
	if c.Incidents.MaxSnooze <= 0 {
		return errors.New("incidents.max_snooze: must be positive")
	}
	if !validSeverity(c.Incidents.DefaultSeverity) {
		return fmt.Errorf("incidents.default_severity: must be critical, warning or info, not %q", c.Incidents.DefaultSeverity)
	}
	for name, sc := range c.Sources.Common() {
		if sc.Token != "" && len(sc.Token) < 16 {
			return fmt.Errorf("sources.%s.token: must be at least 16 characters", configName(name))
		}
		for k := range sc.Labels {
			if k == "" {
				return fmt.Errorf("sources.%s.labels: a label name is empty", configName(name))
			}
		}
	}
	for name, sev := range map[string]string{"uptime_kuma": c.Sources.UptimeKuma.Severity, "gatus": c.Sources.Gatus.Severity,
		"diun": c.Sources.Diun.Severity, "drift": c.Sources.Drift.Severity} {
		if !validSeverity(sev) {
			return fmt.Errorf("sources.%s.severity: must be critical, warning or info, not %q", name, sev)
		}
	}
	if g := c.Sources.UptimeKuma.GroupBy; g != "monitor" && !(strings.HasPrefix(g, "tag:") && len(g) > 4) {
		return fmt.Errorf("sources.uptime_kuma.group_by: must be monitor or tag:NAME, not %q", g)
	}
	if g := c.Sources.Gatus.GroupBy; g != "group" && g != "endpoint" {
		return fmt.Errorf("sources.gatus.group_by: must be group or endpoint, not %q", g)
	}
	if u := c.Alertmanager.URL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("alertmanager.url: %q is not an http(s) URL", u)
		}
	}
	if err := c.validateNotify(); err != nil {
		return err
	}
	if err := c.Checks.Drift.validate(); err != nil {
		return err
	}
	if err := c.Checks.VersionChecker.validate(); err != nil {
		return err
	}
	am := c.Sources.Alertmanager
	for k, v := range am.Severities {
		if !validSeverity(v) {
			return fmt.Errorf("sources.alertmanager.severities.%s: must be critical, warning or info, not %q", k, v)
		}
	}
	for i, l := range am.GroupBy {
		if l == "" {
			return fmt.Errorf("sources.alertmanager.group_by[%d]: must not be empty", i)
		}
	}
	return nil
}

// configName is a source's key in the configuration.
func configName(source string) string { return strings.ReplaceAll(source, "-", "_") }

func validSeverity(s string) bool { return s == "critical" || s == "warning" || s == "info" }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseLevel maps a log.level to slog's.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// CronParser parses schedules: optional seconds, descriptors, CRON_TZ=.
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var hostRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func (d *DriftCheckConfig) validate() error {
	if _, err := CronParser.Parse(d.Schedule); err != nil {
		return fmt.Errorf("checks.drift.schedule: %w", err)
	}
	if !validSeverity(d.Severity) {
		return fmt.Errorf("checks.drift.severity: must be critical, warning or info, not %q", d.Severity)
	}
	if d.Timeout <= 0 {
		return errors.New("checks.drift.timeout: must be positive")
	}
	if !d.Enabled {
		return nil
	}
	switch {
	case d.Repo == "":
		return errors.New("checks.drift.repo: is required: a path or URL of the declarative repo")
	case d.Branch == "" || strings.HasPrefix(d.Branch, "-") || strings.Contains(d.Branch, ".."):
		return fmt.Errorf("checks.drift.branch: %q is not a branch name", d.Branch)
	case len(d.Hosts) == 0:
		return errors.New("checks.drift.hosts: name at least one host")
	}
	seen := map[string]bool{}
	for i, h := range d.Hosts {
		switch {
		case !hostRE.MatchString(h.Name):
			return fmt.Errorf("checks.drift.hosts[%d].name: %q is not a host name", i, h.Name)
		case seen[h.Name]:
			return fmt.Errorf("checks.drift.hosts[%d].name: %s is named twice", i, h.Name)
		case len(h.Revision) == 0 || h.Revision[0] == "":
			return fmt.Errorf("checks.drift.hosts[%d].revision: the command that prints the revision %s runs, as a list", i, h.Name)
		}
		seen[h.Name] = true
	}
	return nil
}

func (v *VersionCheckerCheckConfig) validate() error {
	if _, err := CronParser.Parse(v.Schedule); err != nil {
		return fmt.Errorf("checks.version_checker.schedule: %w", err)
	}
	if !validSeverity(v.Severity) {
		return fmt.Errorf("checks.version_checker.severity: must be critical, warning or info, not %q", v.Severity)
	}
	if v.Timeout <= 0 {
		return errors.New("checks.version_checker.timeout: must be positive")
	}
	if u, err := url.Parse(v.URL); v.Enabled && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return fmt.Errorf("checks.version_checker.url: %q is not an http(s) URL of version-checker's /metrics", v.URL)
	}
	return nil
}

var topicRE = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)

func (c *Config) validateNotify() error {
	if u := c.HTTP.PublicURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("http.public_url: %q is not an http(s) URL", u)
		}
	}
	if k := c.HTTP.ActionKey; k != "" && len(k) < 32 {
		return errors.New("http.action_key: must be at least 32 characters (try: openssl rand -hex 32)")
	}
	if c.HTTP.ActionTTL < time.Minute {
		return errors.New("http.action_ttl: must be at least 1m")
	}
	n := c.Notify
	switch {
	case n.GiveUpAfter < time.Minute:
		return errors.New("notify.give_up_after: must be at least 1m")
	case n.MinBackoff <= 0 || n.MaxBackoff < n.MinBackoff:
		return errors.New("notify.min_backoff, notify.max_backoff: must be positive, the max at least the min")
	}
	names := map[string]bool{}
	for i, t := range n.Ntfy {
		key := fmt.Sprintf("notify.ntfy[%d]", i)
		u, err := url.Parse(t.URL)
		switch {
		case !hostRE.MatchString(t.Name) || names[t.Name]:
			return fmt.Errorf("%s.name: %q must be a unique name of letters, digits, ., _ and -", key, t.Name)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return fmt.Errorf("%s.url: %q is not the http(s) URL of an ntfy server", key, t.URL)
		case !topicRE.MatchString(t.Topic):
			return fmt.Errorf("%s.topic: %q is not an ntfy topic (1-64 of A-Z, a-z, 0-9, _ and -)", key, t.Topic)
		case t.Token != "" && t.Username != "":
			return fmt.Errorf("%s: give a token or a username and password, not both", key)
		case t.RatePerMinute <= 0 || t.Burst < 1:
			return fmt.Errorf("%s.rate_per_minute, burst: must be positive", key)
		}
		names[t.Name] = true
	}
	if u := n.DiscordAPIURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("notify.discord_api_url: %q is not an http(s) URL", u)
		}
	}
	for i, t := range n.Discord {
		key := fmt.Sprintf("notify.discord[%d]", i)
		switch {
		case !hostRE.MatchString(t.Name) || names[t.Name]:
			return fmt.Errorf("%s.name: %q must be a unique name of letters, digits, ., _ and - (across all targets)", key, t.Name)
		case (t.Token != "") == (t.WebhookURL != ""):
			return fmt.Errorf("%s: give a bot token and channel_id, or a webhook_url", key)
		case t.Token != "" && !snowflakeRE.MatchString(t.ChannelID):
			return fmt.Errorf("%s.channel_id: %q is not a Discord channel id", key, t.ChannelID)
		case t.RatePerMinute <= 0 || t.Burst < 1:
			return fmt.Errorf("%s.rate_per_minute, burst: must be positive", key)
		}
		if t.WebhookURL != "" && !strings.Contains(t.WebhookURL.Reveal(), "/webhooks/") {
			return fmt.Errorf("%s.webhook_url: not a Discord webhook URL (.../api/webhooks/ID/TOKEN)", key)
		}
		names[t.Name] = true
	}
	for i, r := range n.Routes {
		key := fmt.Sprintf("notify.routes[%d]", i)
		if len(r.Targets) == 0 {
			return fmt.Errorf("%s.targets: name at least one target", key)
		}
		for _, t := range r.Targets {
			if !names[t] {
				return fmt.Errorf("%s.targets: no target is named %q", key, t)
			}
		}
		for _, sev := range r.Severities {
			if !validSeverity(sev) {
				return fmt.Errorf("%s.severities: %q is not critical, warning or info", key, sev)
			}
		}
	}
	for _, t := range n.DefaultTargets {
		if !names[t] {
			return fmt.Errorf("notify.default_targets: no target is named %q", t)
		}
	}
	return nil
}

// Routes are the routing rules as the store applies them, nil for none.
func (n *NotifyConfig) IncidentRoutes(all []string) *incidents.Routes {
	if len(n.Routes) == 0 && len(n.DefaultTargets) == 0 {
		return nil
	}
	r := &incidents.Routes{Default: n.DefaultTargets}
	if len(r.Default) == 0 {
		r.Default = all
	}
	for _, rc := range n.Routes {
		rt := incidents.Route{Sources: rc.Sources, Labels: rc.Labels, Targets: rc.Targets, Continue: rc.Continue}
		for _, s := range rc.Severities {
			rt.Severities = append(rt.Severities, incidents.Severity(s))
		}
		r.Routes = append(r.Routes, rt)
	}
	return r
}

var (
	snowflakeRE = regexp.MustCompile(`^[0-9]{1,20}$`)
	mentionRE   = regexp.MustCompile(`^<@&?[0-9]{1,20}>$`)
)

// validate checks the bot's settings, when it has a token.
func (d *DiscordBot) validate() error {
	if d.Token == "" {
		return nil
	}
	if len(d.GuildIDs) == 0 {
		return errors.New("chat.discord.guild_ids: name the servers (guilds) whose commands opsbot takes; the slash commands are registered there")
	}
	if d.ApplicationID != "" && !snowflakeRE.MatchString(d.ApplicationID) {
		return fmt.Errorf("chat.discord.application_id: %q is not a Discord id", d.ApplicationID)
	}
	for key, ids := range map[string][]string{"guild_ids": d.GuildIDs, "channel_ids": d.ChannelIDs} {
		for _, id := range ids {
			if !snowflakeRE.MatchString(id) {
				return fmt.Errorf("chat.discord.%s: %q is not a Discord id", key, id)
			}
		}
	}
	if d.DefaultPermission != "none" && d.DefaultPermission != "read" {
		return fmt.Errorf("chat.discord.default_permission: must be none or read, not %q; grant more by user or role", d.DefaultPermission)
	}
	for key, grants := range map[string]map[string]string{"users": d.Users, "roles": d.Roles} {
		for id, p := range grants {
			if !snowflakeRE.MatchString(id) {
				return fmt.Errorf("chat.discord.%s: %q is not a Discord id", key, id)
			}
			switch p {
			case "none", "read", "respond", "operate":
			default:
				return fmt.Errorf("chat.discord.%s[%s]: %q is not none, read, respond or operate", key, id, p)
			}
		}
	}
	return nil
}
