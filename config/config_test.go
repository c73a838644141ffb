package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The example documents every key with its default: loading it gives
// exactly the defaults, and it names every key the Config has.
func TestExampleIsTheDefaults(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "config.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if def := Default(); !reflect.DeepEqual(*cfg, def) {
		t.Fatalf("config.example.yaml differs from the defaults:\n%+v\n%+v", *cfg, def)
	}
	body, _ := os.ReadFile(filepath.Join("..", "config.example.yaml"))
	for _, key := range yamlKeys(reflect.TypeOf(Config{})) {
		if !bytes.Contains(body, []byte(key+":")) {
			t.Errorf("config.example.yaml does not document %s", key)
		}
	}
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		keys = append(keys, name)
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, yamlKeys(f.Type)...)
		}
		if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
			keys = append(keys, yamlKeys(f.Type.Elem())...)
		}
	}
	return keys
}

func TestStrictAndValidated(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"htp:\n  listen: x\n", "field htp not found"},
		{"http:\n  listen: 0.0.0.0:8080\n", "http.listen: 0.0.0.0:8080 is not a loopback address"},
		{"http:\n  tokens:\n    - name: a\n      token: short\n", "http.tokens[0].token: must be at least 16"},
		{"http:\n  tokens:\n    - token: 0123456789abcdef\n", "http.tokens[0].name: is required"},
		{"nats:\n  listen: 10.0.0.1:4222\n", "nats.listen: the embedded NATS server listens on loopback only"},
		{"nats:\n  batch_size: 0\n", "nats.batch_size"},
		{"nats:\n  duplicate_window: soon\n", "cannot unmarshal"},
		{"store:\n  synchronous: off\n", "store.synchronous"},
		{"incidents:\n  default_severity: urgent\n", "incidents.default_severity"},
		{"sources:\n  alertmanager:\n    severities:\n      p1: urgent\n", "sources.alertmanager.severities.p1"},
		{"log:\n  level: loud\n", "log.level"},
	}
	for _, tt := range tests {
		cfg := Default()
		err := Parse([]byte(tt.yaml), &cfg)
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
	// Tokens allow any address.
	cfg := Default()
	if err := Parse([]byte("http:\n  listen: 0.0.0.0:8080\n  tokens:\n    - name: a\n      token: 0123456789abcdef\n"), &cfg); err != nil || cfg.Validate() != nil {
		t.Fatalf("tokens and a public address: %v %v", err, cfg.Validate())
	}
}

// Secrets never reach output: not fmt, JSON, YAML or slog, whether inline
// or from a file.
func TestSecretsNeverPrint(t *testing.T) {
	dir := t.TempDir()
	const inline, fromFile = "inline-secret-0123456789", "file-secret-0123456789"
	os.WriteFile(filepath.Join(dir, "tok"), []byte(fromFile+"\n"), 0o600)
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf("http:\n  tokens:\n    - name: a\n      token: %s\n    - name: b\n      token_file: %s\n", inline, filepath.Join(dir, "tok"))), 0o600)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Tokens[1].Token.Reveal() != fromFile {
		t.Fatalf("token_file read as %q", cfg.HTTP.Tokens[1].Token.Reveal())
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s\n", cfg, *cfg, cfg.HTTP.Tokens, cfg.HTTP.Tokens[0].Token)
	j, _ := json.Marshal(cfg)
	y, _ := yaml.Marshal(cfg)
	out.Write(j)
	out.Write(y)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "cfg", cfg, "tokens", cfg.HTTP.Tokens, "token", cfg.HTTP.Tokens[0].Token)
	slog.New(slog.NewTextHandler(&out, nil)).Info("config", "cfg", cfg, "token", cfg.HTTP.Tokens[1].Token)
	if s := out.String(); strings.Contains(s, inline) || strings.Contains(s, fromFile) || !strings.Contains(s, "<secret>") {
		t.Fatalf("a secret leaked:\n%s", s)
	}
	os.WriteFile(path, []byte(fmt.Sprintf("http:\n  tokens:\n    - name: a\n      token: %s\n      token_file: %s\n", inline, filepath.Join(dir, "tok"))), 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("token and token_file: %v", err)
	}
}

// TestREADMEConfig: every YAML block in the README, but Alertmanager's,
// is configuration opsbot takes, key for key.
func TestREADMEConfig(t *testing.T) {
	body, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(body, -1)
	if len(blocks) < 3 {
		t.Fatalf("%d YAML blocks in the README", len(blocks))
	}
	for _, b := range blocks {
		if bytes.Contains(b[1], []byte("webhook_configs:")) {
			continue // Alertmanager's configuration
		}
		cfg := Default()
		if err := Parse(b[1], &cfg); err != nil {
			t.Errorf("%v in:\n%s", err, b[1])
			continue
		}
		if err := cfg.Chat.Discord.validate(); err != nil {
			t.Errorf("%v in:\n%s", err, b[1])
		}
		if err := cfg.validateDeploy(); err != nil {
			t.Errorf("%v in:\n%s", err, b[1])
		}
	}
}

// TestCronTimeZones: a schedule's CRON_TZ is its time zone.
func TestCronTimeZones(t *testing.T) {
	from := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) // a Sunday
	for spec, want := range map[string]string{
		"CRON_TZ=UTC 0 6 * * 1":              "2026-11-23T06:00:00Z",
		"CRON_TZ=Europe/Berlin 0 6 * * 1":    "2026-11-23T05:00:00Z",
		"CRON_TZ=America/New_York 0 6 * * 1": "2026-11-23T11:00:00Z",
		"@weekly":                            "2026-11-29T00:00:00Z",
	} {
		s, err := CronParser.Parse(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if got := s.Next(from).UTC().Format(time.RFC3339); got != want {
			t.Errorf("%s: next %s, want %s", spec, got, want)
		}
	}
	cfg := Default()
	cfg.Reports.Upgrade.Enabled, cfg.Reports.Upgrade.Schedule = true, "CRON_TZ=Mars/Olympus 0 6 * * 1"
	cfg.Upgrade.Hosts, cfg.Repo.URL = []string{"web"}, "/srv/infra"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "reports.upgrade.schedule") {
		t.Fatalf("a bad zone: %v", err)
	}
}
