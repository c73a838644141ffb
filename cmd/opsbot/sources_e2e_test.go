package main

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/opsbot/opsbot/incidents"
)

const kumaToken = "uptime-kuma-only-token-0123"

func sourcePayload(t *testing.T, source, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "handlers", source, "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postAs posts body to path with token and content type; it returns the
// status and the body of the answer.
func (p *proc) postAs(path, token, contentType string, body []byte) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest("POST", p.url+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func formDataBody(t *testing.T, data []byte) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("data", string(data)); err != nil {
		t.Fatal(err)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// TestSources feeds every source's recorded payloads through the built
// binary, over HTTP and over NATS, and checks incidents and notices.
func TestSources(t *testing.T) {
	dir := t.TempDir()
	config := withNATSListener(t, writeConfig(t, dir, `sources:
  uptime_kuma:
    token: `+kumaToken+`
    labels:
      site: home
`))
	p := start(t, config)
	nc, err := nats.Connect(natsRE.FindStringSubmatch(p.log())[1])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stored := func() uint64 {
		s, err := js.Stream(context.Background(), "OPSBOT")
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	accept := func(path, token, contentType string, body []byte) {
		t.Helper()
		if code, out := p.postAs(path, token, contentType, body); code != 202 {
			t.Fatalf("POST %s: %d %s", path, code, out)
		}
	}
	byDedup := func() map[string]*incidents.Incident {
		p.settle(10 * time.Second)
		m := map[string]*incidents.Incident{}
		for _, i := range p.all() {
			for _, a := range i.Alerts {
				m[a.DedupKey] = i
			}
		}
		return m
	}

	// Uptime Kuma, JSON mode, with its own token: DOWN opens, UP resolves.
	accept("/hooks/uptime-kuma", kumaToken, "application/json", sourcePayload(t, "uptimekuma", "down.json"))
	kuma := byDedup()["uptime-kuma:monitor:12"]
	if kuma == nil || kuma.State != incidents.Triggered || kuma.Severity != incidents.Critical ||
		kuma.Title != "Forgejo is down: getaddrinfo ENOTFOUND git.example.org" || kuma.Alerts[0].Labels["site"] != "home" {
		t.Fatalf("uptime kuma down: %+v", kuma)
	}
	// Form-data mode, and the general token works too.
	ct, body := formDataBody(t, sourcePayload(t, "uptimekuma", "up.json"))
	accept("/hooks/uptime-kuma", e2eToken, ct, body)
	ct, body = formDataBody(t, sourcePayload(t, "uptimekuma", "test-notification.json"))
	accept("/hooks/uptime-kuma", kumaToken, ct, body)
	if kuma = byDedup()["uptime-kuma:monitor:12"]; kuma.State != incidents.Resolved {
		t.Fatalf("uptime kuma up: %+v", kuma)
	}
	// The source's token opens its hook and nothing else.
	if code, _ := p.postAs("/hooks/gatus", kumaToken, "", sourcePayload(t, "gatus", "triggered.txt")); code != 401 {
		t.Fatalf("the uptime kuma token on the gatus hook: %d", code)
	}
	if code, _ := p.postAs("/api/v1/events", kumaToken, "", []byte(`{"source":"x","action":"trigger","dedup_key":"k"}`)); code != 401 {
		t.Fatalf("the uptime kuma token on the API: %d", code)
	}

	// Gatus: one alert per endpoint, an incident per endpoint group.
	accept("/hooks/gatus", e2eToken, "text/plain", sourcePayload(t, "gatus", "triggered.txt"))
	gatus := byDedup()["gatus:core/forgejo"]
	if gatus == nil || gatus.GroupKey != "gatus:group:core" || gatus.State != incidents.Triggered {
		t.Fatalf("gatus: %+v", gatus)
	}
	accept("/hooks/gatus", e2eToken, "text/plain", sourcePayload(t, "gatus", "resolved.txt"))
	if gatus = byDedup()["gatus:core/forgejo"]; gatus.State != incidents.Resolved {
		t.Fatalf("gatus resolved: %+v", gatus)
	}

	// Diun: a notice, no incident.
	accept("/hooks/diun", e2eToken, "application/json", sourcePayload(t, "diun", "update.json"))
	// Drift: drifted opens, in sync resolves.
	accept("/hooks/drift", e2eToken, "application/json", sourcePayload(t, "drift", "drifted.json"))
	if d := byDedup()["drift:nas"]; d == nil || d.State != incidents.Triggered || d.Title != "nas has drifted: /etc drifted from the deployed generation" {
		t.Fatalf("drift: %+v", d)
	}
	accept("/hooks/drift", e2eToken, "application/json", sourcePayload(t, "drift", "in-sync.json"))
	if d := byDedup()["drift:nas"]; d.State != incidents.Resolved {
		t.Fatalf("drift resolved: %+v", d)
	}
	for key := range byDedup() {
		if strings.HasPrefix(key, "diun:") || strings.Contains(key, "notice") {
			t.Fatalf("%s made an incident", key)
		}
	}
	out, code := p.cli("notices")
	if code != 0 || !contains(out, "diun", "update image docker.io/linuxserver/nextcloud:latest on docker-1", "uptime-kuma", "Uptime Kuma Testing") {
		t.Fatalf("notices (%d):\n%s", code, out)
	}
	out, _ = p.cli("notices", "--source", "diun", "--json")
	if !contains(out, `"image": "docker.io/linuxserver/nextcloud:latest"`, `"source": "diun"`) || strings.Contains(out, "uptime-kuma") {
		t.Fatalf("notices --source diun:\n%s", out)
	}

	// Bad input, per source: a clear 400, nothing stored.
	before := stored()
	for _, c := range []struct{ path, contentType, body, want string }{
		{"/hooks/uptime-kuma", "application/json", `{"heartbeat":{"monitorID":1,"status":9,"time":"2026-11-21 22:04:31"}}`, "heartbeat.status"},
		{"/hooks/uptime-kuma", "multipart/form-data; boundary=xyz", "--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n{}\r\n--xyz--\r\n", "invalid form-data"},
		{"/hooks/gatus", "text/plain", "state=MAYBE\nname=x", "state"},
		{"/hooks/diun", "application/json", `{"status":"new"}`, "image"},
		{"/hooks/drift", "application/json", `{"host":"nas"}`, "drifted"},
		{"/hooks/drift", "application/json", `{"host":"nas","drifted":true`, "JSON"},
	} {
		code, out := p.postAs(c.path, e2eToken, c.contentType, []byte(c.body))
		if code != 400 || !strings.Contains(out, c.want) {
			t.Errorf("%s %q: %d %s, want 400 with %q", c.path, c.body, code, out, c.want)
		}
	}
	if code, _ := p.postAs("/hooks/nagios", e2eToken, "", []byte("{}")); code != 404 {
		t.Errorf("unknown source: %d", code)
	}
	if n := stored(); n != before {
		t.Fatalf("bad input stored %d messages", n-before)
	}

	// opsbot event send, over HTTP and over NATS.
	out, code = p.cli("event", "send", "--source", "backup", "--dedup-key", "restic-nas", "--severity", "critical",
		"--summary", "backup failed", "--label", "host=nas", "--details", `{"exit":1}`, "--link", "https://grafana.example.org|graph", "--wait")
	if code != 0 || !contains(out, "applied: opened", "(incident #") {
		t.Fatalf("event send (%d):\n%s", code, out)
	}
	natsURL := natsRE.FindStringSubmatch(p.log())[1]
	out, code = p.cli("event", "send", "--nats", natsURL, "--source", "backup", "--action", "resolve", "--dedup-key", "restic-nas", "--id", "r1")
	if code != 0 || !contains(out, "event r1 stored") {
		t.Fatalf("event send --nats (%d):\n%s", code, out)
	}
	if b := byDedup()["restic-nas"]; b == nil || b.State != incidents.Resolved || b.Alerts[0].Labels["host"] != "nas" {
		t.Fatalf("backup incident: %+v", b)
	}
	if out, code = p.cli("event", "send", "--source", "Bad Name", "--dedup-key", "k"); code != 2 || !contains(out, "source") {
		t.Fatalf("bad source (%d):\n%s", code, out)
	}
	if out, code = p.cli("event", "send", "--source", "backup"); code != 2 || !contains(out, "dedup_key") {
		t.Fatalf("no dedup key (%d):\n%s", code, out)
	}
	cmd := exec.Command(binary, "event", "send", "--server", "http://127.0.0.1:1", "--source", "backup", "--dedup-key", "k")
	if out, err := cmd.CombinedOutput(); err == nil || cmd.ProcessState.ExitCode() != 1 || !contains(string(out), "cannot reach opsbot") {
		t.Fatalf("no server: %v\n%s", err, out)
	}

	// The raw path: a source's own payload straight onto NATS.
	for subject, body := range map[string][]byte{
		"opsbot.raw.uptime-kuma": []byte(strings.ReplaceAll(string(sourcePayload(t, "uptimekuma", "down.json")), `"id":12,"name":"Forgejo"`, `"id":13,"name":"Nextcloud"`)),
		"opsbot.raw.gatus":       []byte("state=TRIGGERED\ngroup=nas\nname=smb\n"),
		"opsbot.raw.diun":        sourcePayload(t, "diun", "new.json"),
		"opsbot.raw.drift":       []byte(`{"host":"pi","drifted":true,"what":"/etc/hosts"}`),
	} {
		if _, err := js.Publish(context.Background(), subject, body); err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
	}
	m := byDedup()
	for _, key := range []string{"uptime-kuma:monitor:13", "gatus:nas/smb", "drift:pi"} {
		if m[key] == nil || m[key].State != incidents.Triggered {
			t.Fatalf("raw %s: %+v", key, m[key])
		}
	}
	if out, _ = p.cli("notices", "--source", "diun"); !contains(out, "home-assistant") {
		t.Fatalf("raw diun notice:\n%s", out)
	}
}
