package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// TestBinary runs opsbot serve and the CLI as a user would, fed recorded
// Alertmanager payloads.
func TestBinary(t *testing.T) {
	dir := t.TempDir()
	p := start(t, writeConfig(t, dir, ""))
	payload := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "handlers", "alertmanager", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if code, err := p.post("/hooks/alertmanager", payload("firing.json")); err != nil || code != 202 {
		t.Fatalf("firing: %d %v", code, err)
	}
	p.settle(10 * time.Second)

	out, code := p.cli("incidents", "list")
	if code != 0 || !contains(out, "#1", "triggered", "critical", "git.example.org is unreachable") {
		t.Fatalf("list (%d):\n%s", code, out)
	}
	out, code = p.cli("incidents", "ack", "#1", "--note", "looking")
	if code != 0 || !contains(out, "incident #1 acknowledged") {
		t.Fatalf("ack (%d):\n%s", code, out)
	}
	out, code = p.cli("incidents", "ack", "1")
	if code != 1 || strings.TrimSpace(out) != "opsbot: incident #1 is already acknowledged by carol" {
		t.Fatalf("second ack (%d):\n%s", code, out)
	}
	out, code = p.cli("incidents", "snooze", "1", "90m")
	if code != 0 || !contains(out, "snoozed") {
		t.Fatalf("snooze (%d):\n%s", code, out)
	}
	out, code = p.cli("incidents", "comment", "1", "ISP", "says", "fibre", "cut")
	if code != 0 {
		t.Fatalf("comment (%d):\n%s", code, out)
	}
	out, code = p.cli("incidents", "snooze", "1", "soon")
	if code != 1 || !contains(out, "duration") {
		t.Fatalf("bad snooze (%d):\n%s", code, out)
	}
	out, code = p.cli("incidents", "show", "42")
	if code != 1 || !contains(out, "incident #42 does not exist") {
		t.Fatalf("show missing (%d):\n%s", code, out)
	}
	out, code = p.cli("incidents", "ack", "x")
	if code != 2 {
		t.Fatalf("bad id (%d):\n%s", code, out)
	}

	for _, f := range []string{"partly-resolved.json", "resolved.json", "resolved.json"} {
		if code, err := p.post("/hooks/alertmanager", payload(f)); err != nil || code != 202 {
			t.Fatalf("%s: %d %v", f, code, err)
		}
	}
	p.settle(10 * time.Second)
	out, code = p.cli("incidents", "show", "1")
	if code != 0 || !contains(out, "state:            resolved", "ISP says fibre cut", "acknowledged", "carol") {
		t.Fatalf("show (%d):\n%s", code, out)
	}
	out, code = p.cli("incidents", "show", "1", "--json")
	if code != 0 || !contains(out, `"state": "resolved"`, `"dedup_key": "c6f3b1a3e1d0a4b2"`, `"kind": "snoozed"`) {
		t.Fatalf("show --json (%d):\n%s", code, out)
	}
	out, _ = p.cli("incidents", "list")
	if !contains(out, "no incidents") {
		t.Fatalf("open list after resolve:\n%s", out)
	}

	// A restart keeps everything, and the same payloads change nothing.
	p.stop()
	if !contains(p.log(), "reducer drained", "nats closed", "database closed") {
		t.Fatalf("shutdown out of order:\n%s", p.log())
	}
	p = start(t, writeConfig(t, dir, ""))
	for _, f := range []string{"firing.json", "resolved.json"} {
		if code, err := p.post("/hooks/alertmanager", payload(f)); err != nil || code != 202 {
			t.Fatalf("%s again: %d %v", f, code, err)
		}
	}
	p.settle(10 * time.Second)
	all := p.all()
	if len(all) != 1 || all[0].State != incidents.Resolved || len(all[0].Alerts) != 2 {
		t.Fatalf("after restart: %+v", all)
	}
}

func TestServeRefusesOpenNonLoopback(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "serve", "--data", filepath.Join(dir, "data"), "--listen", "0.0.0.0:0")
	out, err := cmd.CombinedOutput()
	if err == nil || !contains(string(out), "not a loopback address", "http.tokens") {
		t.Fatalf("%v:\n%s", err, out)
	}
	cfg := filepath.Join(dir, "bad.yaml")
	os.WriteFile(cfg, []byte("http:\n  listne: 127.0.0.1:9\n"), 0o600)
	out, err = exec.Command(binary, "serve", "--config", cfg).CombinedOutput()
	if err == nil || !contains(string(out), "listne") {
		t.Fatalf("unknown key: %v:\n%s", err, out)
	}
}
