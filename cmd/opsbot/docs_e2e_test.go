package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/opsbot/opsbot/incidents"
)

// snippet returns the code block that follows <!-- snippet: NAME --> in
// docs/sources.md: the tests run what the docs tell people to paste.
func snippet(t *testing.T, name string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "sources.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- snippet: " + regexp.QuoteMeta(name) + " -->\n```[a-z]*\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/sources.md has no snippet %q", name)
	}
	return string(m[1])
}

// asDeployed points a snippet at the test's opsbot and token.
func asDeployed(p *proc, s string) string {
	s = strings.ReplaceAll(s, "http://opsbot.internal:8080", p.url)
	return regexp.MustCompile(`<sources\.[a-z_]+\.token>`).ReplaceAllString(s, e2eToken)
}

func send(t *testing.T, method, url string, headers map[string]string, body string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
}

func TestDocSnippets(t *testing.T) {
	p := start(t, writeConfig(t, t.TempDir(), ""))
	incident := func(dedup string) *incidents.Incident {
		p.settle(10 * time.Second)
		for _, i := range p.all() {
			for _, a := range i.Alerts {
				if a.DedupKey == dedup {
					return i
				}
			}
		}
		return nil
	}

	t.Run("uptime kuma headers", func(t *testing.T) {
		var headers map[string]string
		if err := json.Unmarshal([]byte(asDeployed(p, snippet(t, "uptime-kuma-headers"))), &headers); err != nil {
			t.Fatal(err)
		}
		headers["Content-Type"] = "application/json"
		send(t, "POST", p.url+"/hooks/uptime-kuma", headers, string(sourcePayload(t, "uptimekuma", "down.json")))
		if i := incident("uptime-kuma:monitor:12"); i == nil || i.State != incidents.Triggered {
			t.Fatalf("%+v", i)
		}
	})

	t.Run("gatus", func(t *testing.T) {
		var cfg struct {
			Alerting struct {
				Custom struct {
					URL, Method, Body string
					Headers           map[string]string
					DefaultAlert      struct {
						SendOnResolved bool `yaml:"send-on-resolved"`
					} `yaml:"default-alert"`
				}
			}
		}
		if err := yaml.Unmarshal([]byte(asDeployed(p, snippet(t, "gatus-config"))), &cfg); err != nil {
			t.Fatal(err)
		}
		c := cfg.Alerting.Custom
		if c.Method != "POST" || !c.DefaultAlert.SendOnResolved {
			t.Fatalf("the snippet must POST and send on resolved: %+v", c)
		}
		// What Gatus's custom provider does with the body: plain string
		// replacement, nothing escaped.
		fill := func(state string) string {
			return strings.NewReplacer(
				"[ALERT_DESCRIPTION]", "healthcheck failing",
				"[ENDPOINT_NAME]", "forgejo",
				"[ENDPOINT_GROUP]", "core",
				"[ENDPOINT_URL]", "https://git.example.org/api/healthz?full=1&x=\"y\"",
				"[ALERT_TRIGGERED_OR_RESOLVED]", state,
				"[RESULT_ERRORS]", `Get "https://git.example.org/api/healthz": dial tcp: connection refused,[STATUS] (502) == 200`,
			).Replace(c.Body)
		}
		send(t, c.Method, c.URL, c.Headers, fill("TRIGGERED"))
		i := incident("gatus:core/forgejo")
		if i == nil || i.State != incidents.Triggered || i.GroupKey != "gatus:group:core" || i.Title != "core/forgejo is failing: healthcheck failing" {
			t.Fatalf("%+v", i)
		}
		send(t, c.Method, c.URL, c.Headers, fill("RESOLVED"))
		if i = incident("gatus:core/forgejo"); i.State != incidents.Resolved {
			t.Fatalf("%+v", i)
		}
	})

	t.Run("diun", func(t *testing.T) {
		var cfg struct {
			Notif struct {
				Webhook struct {
					Endpoint, Method string
					Headers          map[string]string
				}
			}
		}
		if err := yaml.Unmarshal([]byte(asDeployed(p, snippet(t, "diun-config"))), &cfg); err != nil {
			t.Fatal(err)
		}
		w := cfg.Notif.Webhook
		send(t, w.Method, w.Endpoint, w.Headers, string(sourcePayload(t, "diun", "update.json")))
		p.settle(10 * time.Second)
		if out, _ := p.cli("notices", "--source", "diun"); !contains(out, "nextcloud") {
			t.Fatalf("notices:\n%s", out)
		}
	})

	env := append(os.Environ(), "PATH="+filepath.Dir(binary)+":"+os.Getenv("PATH"), "OPSBOT_SERVER="+p.url, "OPSBOT_TOKEN="+e2eToken)

	t.Run("drift check", func(t *testing.T) {
		dir := t.TempDir()
		script := filepath.Join(dir, "opsbot-drift-check")
		if err := os.WriteFile(script, []byte(snippet(t, "opsbot-drift-check")), 0o755); err != nil {
			t.Fatal(err)
		}
		expected, actual := filepath.Join(dir, "expected"), filepath.Join(dir, "etc")
		for _, d := range []string{expected, actual} {
			os.MkdirAll(d, 0o755)
			os.WriteFile(filepath.Join(d, "nginx.conf"), []byte("worker_connections 1024;\n"), 0o644)
		}
		run := func() string {
			cmd := exec.Command(script, "diff", "-ru", expected, actual)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			return string(out)
		}
		host, _ := os.Hostname()
		os.WriteFile(filepath.Join(actual, "nginx.conf"), []byte("worker_connections 4096;\n"), 0o644)
		if out := run(); !contains(out, "reported drifted") {
			t.Fatalf("drifted: %s", out)
		}
		i := incident("drift:" + host)
		if i == nil || i.State != incidents.Triggered || !strings.Contains(string(i.Alerts[0].Details), "worker_connections 4096") {
			t.Fatalf("%+v", i)
		}
		os.WriteFile(filepath.Join(actual, "nginx.conf"), []byte("worker_connections 1024;\n"), 0o644)
		if out := run(); !contains(out, "reported in sync") {
			t.Fatalf("in sync: %s", out)
		}
		if i = incident("drift:" + host); i.State != incidents.Resolved {
			t.Fatalf("%+v", i)
		}
	})

	t.Run("pre-push hook", func(t *testing.T) {
		dir := t.TempDir()
		git := func(args ...string) {
			t.Helper()
			cmd := exec.Command("git", args...)
			cmd.Dir, cmd.Env = filepath.Join(dir, "repo"), append(env, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
		os.MkdirAll(filepath.Join(dir, "repo"), 0o755)
		if out, err := exec.Command("git", "init", "-q", "--bare", filepath.Join(dir, "remote.git")).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		git("init", "-q", "-b", "main")
		git("config", "user.name", "Dana")
		git("config", "user.email", "dana@example.org")
		os.WriteFile(filepath.Join(dir, "repo", ".git", "hooks", "pre-push"), []byte(snippet(t, "pre-push")), 0o755)
		os.WriteFile(filepath.Join(dir, "repo", "flake.nix"), []byte("{ }\n"), 0o644)
		git("add", ".")
		git("commit", "-q", "-m", "bump nixpkgs")
		git("remote", "add", "origin", filepath.Join(dir, "remote.git"))
		git("push", "-q", "origin", "main")
		p.settle(10 * time.Second)
		out, _ := p.cli("notices", "--source", "git")
		if !contains(out, "Dana pushes", "bump nixpkgs to refs/heads/main") {
			t.Fatalf("notices:\n%s", out)
		}
	})
}
