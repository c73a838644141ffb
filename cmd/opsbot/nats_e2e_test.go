package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/opsbot/opsbot/incidents"
)

var natsRE = regexp.MustCompile(`nats=(nats://\S+)`)

// TestNATSPublishers: scripts publish normalized events straight onto the
// embedded server's subjects, as `nats pub` does (no JetStream ack).
func TestNATSPublishers(t *testing.T) {
	dir := t.TempDir()
	p := start(t, withNATSListener(t, writeConfig(t, dir, "")))
	m := natsRE.FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no NATS URL in the log:\n%s", p.log())
	}
	nc, err := nats.Connect(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub := func(subject, body string, header map[string]string) {
		msg := nats.NewMsg(subject)
		msg.Data = []byte(body)
		for k, v := range header {
			msg.Header.Set(k, v)
		}
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
	// With an id, twice: applied once.
	ev := `{"id":"b-1","action":"trigger","dedup_key":"restic-nas","severity":"critical","summary":"backup failed"}`
	pub("opsbot.events.backup", ev, nil)
	pub("opsbot.events.backup", ev, nil)
	// Without an id, deduplicated by Nats-Msg-Id.
	cert := `{"action":"trigger","dedup_key":"cert-git","group_key":"certs","summary":"certificate expires in 5 days"}`
	pub("opsbot.events.certcheck", cert, map[string]string{"Nats-Msg-Id": "certcheck:day-1"})
	pub("opsbot.events.certcheck", cert, map[string]string{"Nats-Msg-Id": "certcheck:day-1"})
	// Several events in one message.
	pub("opsbot.events.certcheck", `{"events":[{"id":"c2","action":"trigger","dedup_key":"cert-nas","group_key":"certs","severity":"info"},{"id":"c3","action":"resolve","dedup_key":"cert-git","group_key":"certs"}]}`, nil)
	// An Alertmanager webhook body, raw, with no HTTP involved.
	raw, err := os.ReadFile(filepath.Join("..", "..", "handlers", "alertmanager", "testdata", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	pub("opsbot.raw.alertmanager", string(raw), nil)
	pub("opsbot.raw.alertmanager", `{"version":"4","status":"firing"}`, nil)
	pub("opsbot.raw.uptime-robot", `{}`, nil)
	// Not events: counted and dropped, nothing else changes.
	pub("opsbot.events.backup", `{"id":"x","action":"explode","dedup_key":"k"}`, nil)
	pub("opsbot.events.backup", `not json`, nil)
	pub("opsbot.events.backup", `{"id":"y","source":"other","action":"trigger","dedup_key":"k"}`, nil)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 10*time.Second, "the rejections to be counted", func() bool {
		resp, err := http.Get(p.url + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(b), `opsbot_events_rejected_total{reason="invalid",source="backup"} 3`) &&
			strings.Contains(string(b), `opsbot_events_rejected_total{reason="invalid",source="raw"} 2`)
	})
	p.settle(10 * time.Second)
	byGroup := map[string]*incidents.Incident{}
	for _, i := range p.all() {
		byGroup[i.GroupKey] = i
	}
	backup, certs, probes := byGroup["restic-nas"], byGroup["certs"], byGroup[`{}:{alertname="ProbeFailure"}`]
	if len(byGroup) != 3 || backup == nil || certs == nil || probes == nil || probes.FiringAlerts != 2 || probes.Severity != incidents.Critical {
		t.Fatalf("incidents: %+v", byGroup)
	}
	if backup.Source != "backup" || backup.Severity != incidents.Critical || len(backup.Alerts) != 1 || len(backup.Timeline) != 2 {
		t.Fatalf("backup incident: %+v", backup)
	}
	fired := 0
	for _, e := range certs.Timeline {
		if e.Kind == incidents.KindAlertFiring {
			fired++
			if !strings.HasPrefix(e.Origin, "nats opsbot.events.certcheck") {
				t.Fatalf("origin %q", e.Origin)
			}
		}
	}
	if certs.FiringAlerts != 1 || len(certs.Alerts) != 2 || fired != 2 || certs.Severity != incidents.Info {
		t.Fatalf("certs incident: %+v", certs)
	}
}

// withNATSListener makes the embedded server listen on a free loopback port.
func withNATSListener(t *testing.T, config string) string {
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte(strings.Replace(string(b), "  listen: \"\"\n", "  listen: 127.0.0.1:0\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}
