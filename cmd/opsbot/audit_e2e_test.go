package main

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestAudit: what people do or try is in the audit log, and a read-only
// token may look but not act.
func TestAudit(t *testing.T) {
	config := writeConfig(t, t.TempDir(), "")
	b, _ := os.ReadFile(config)
	os.WriteFile(config, []byte(strings.Replace(string(b), "  tokens:\n", "  tokens:\n    - name: viewer\n      token: viewer-token-0123456789\n      permissions: [read]\n    - name: responder\n      token: responder-token-0123456789\n      permissions: [respond]\n", 1)), 0o600)
	p := start(t, config)
	if out, code := p.cli("event", "send", "--source", "backup", "--dedup-key", "restic", "--summary", "backup failed"); code != 0 {
		t.Fatal(out)
	}
	viewer := func(args ...string) (string, int) {
		cmd := exec.Command(binary, append(args, "--server", p.url)...)
		cmd.Env = append(os.Environ(), "OPSBOT_TOKEN=viewer-token-0123456789")
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := viewer("incidents", "list"); code != 0 || !contains(out, "backup failed") {
		t.Fatalf("viewer list (%d): %s", code, out)
	}
	if out, code := viewer("incidents", "ack", "1"); code != 1 || !contains(out, "token viewer may not respond") {
		t.Fatalf("viewer ack (%d): %s", code, out)
	}
	req, _ := http.NewRequest("POST", p.url+"/api/v1/incidents/1/resolve", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v %v", resp, err)
	}
	if out, code := p.cli("incidents", "ack", "1"); code != 0 {
		t.Fatal(out)
	}
	if out, code := p.cli("maintenance", "start", "host=nas", "--for", "1h"); code != 0 {
		t.Fatal(out)
	}
	out, code := p.cli("audit", "--json")
	if code != 0 {
		t.Fatal(out)
	}
	for _, want := range []string{
		` (token viewer)"`, `"command": "incident ack"`, `"allowed": false`, `"result": "403 token viewer may not respond`,
		`"actor": "unknown (no valid token)"`, `"command": "incident resolve"`, `"result": "401 missing or wrong bearer token"`,
		`"actor": "carol`, `"result": "200 incident #1 acknowledged"`, `"allowed": true`,
		`"command": "maintenance start"`, `"target": "host=nas"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the audit log lacks %s:\n%s", want, out)
		}
	}
	// Reads through the API are not audited; refused ones are.
	if strings.Contains(out, `"command": "incidents"`) || strings.Contains(out, `"command": "incident show"`) {
		t.Errorf("the API's reads are in the audit log:\n%s", out)
	}
	if out, code := viewer("audit"); code != 0 || !contains(out, "incident ack", "carol") {
		t.Fatalf("viewer audit (%d): %s", code, out)
	}
	// The same status as /status in Discord, from the same command layer.
	if out, code := viewer("status"); code != 0 || !contains(out, "1 open incidents (1 warning), 1 acknowledged; opsbot is healthy", "#1", "acknowledged") {
		t.Fatalf("viewer status (%d): %s", code, out)
	}
	// Maintenance windows need operate; a respond token is refused.
	cmd := exec.Command(binary, "maintenance", "start", "host=nas", "--for", "1h", "--server", p.url)
	cmd.Env = append(os.Environ(), "OPSBOT_TOKEN=responder-token-0123456789")
	if out, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 1 || !contains(string(out), "token responder may not operate") {
		t.Fatalf("responder maintenance: %s", out)
	}
}
