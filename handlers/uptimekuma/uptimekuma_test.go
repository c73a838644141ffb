package uptimekuma

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsbot/opsbot/handlers/sourcetest"

	"github.com/opsbot/opsbot/incidents"
)

func decode(t *testing.T, src *Source, name string) *incidents.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := src.DecodeEvents(b, "d")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(evs) != 1 {
		t.Fatalf("%s: %d events", name, len(evs))
	}
	return evs[0]
}

func TestDecode(t *testing.T) {
	src := &Source{Severity: incidents.Critical, GroupBy: "monitor", Labels: map[string]string{"env": "home"}}
	tests := []struct {
		file     string
		action   incidents.Action
		severity incidents.Severity
		summary  string
	}{
		{"down.json", incidents.Trigger, incidents.Critical, "Forgejo is down: getaddrinfo ENOTFOUND git.example.org"},
		{"up.json", incidents.Resolve, incidents.Critical, "Forgejo is up"},
		{"maintenance.json", incidents.Resolve, incidents.Critical, "Forgejo is in maintenance"},
		{"pending.json", incidents.Record, incidents.Info, "Forgejo is pending (retrying): getaddrinfo ENOTFOUND git.example.org"},
		{"test-notification.json", incidents.Record, incidents.Info, "Uptime Kuma Testing"},
		{"certificate.json", incidents.Record, incidents.Info, "[Forgejo][https://git.example.org] Certificate will expire in 14 days"},
	}
	ids := map[string]bool{}
	for _, tt := range tests {
		ev := decode(t, src, tt.file)
		if ev.Action != tt.action || ev.Severity != tt.severity || ev.Summary != tt.summary || ev.Labels["env"] != "home" {
			t.Errorf("%s: %+v", tt.file, ev)
		}
		if ids[ev.ID] {
			t.Errorf("%s: id %s seen before", tt.file, ev.ID)
		}
		ids[ev.ID] = true
	}
	down := decode(t, src, "down.json")
	want := time.Date(2026, 11, 21, 22, 4, 31, 527e6, time.UTC)
	if !down.OccurredAt.Equal(want) || down.DedupKey != "uptime-kuma:monitor:12" || down.GroupKey != down.DedupKey ||
		down.Labels["monitor"] != "Forgejo" || down.Labels["tag_site"] != "homelab" || down.Labels["url"] != "https://git.example.org" {
		t.Fatalf("down: %+v", down)
	}
	if again := decode(t, src, "down.json"); again.ID != down.ID {
		t.Fatal("the same delivery has two ids")
	}
	byTag := decode(t, &Source{Severity: incidents.Warning, GroupBy: "tag:site"}, "down.json")
	if byTag.GroupKey != "uptime-kuma:tag:site=homelab" || byTag.Severity != incidents.Warning {
		t.Fatalf("by tag: %+v", byTag)
	}
}

func TestBadInput(t *testing.T) {
	src := &Source{Severity: incidents.Critical, GroupBy: "monitor"}
	sourcetest.Rejects(t, src.DecodeEvents, map[string]string{
		`{"heartbeat":null,"monitor":null,"msg":""}`:                                 "msg",
		`{"heartbeat":{"status":0,"time":"2026-11-21 22:04:31.527"},"monitor":null}`: "monitor.id",
		`{"heartbeat":{"monitorID":1,"status":7,"time":"2026-11-21 22:04:31"}}`:      "heartbeat.status",
		`{"heartbeat":{"monitorID":1,"time":"2026-11-21 22:04:31"}}`:                 "heartbeat.status",
		`{"heartbeat":{"monitorID":1,"status":0,"time":"yesterday"}}`:                "heartbeat.time",
		`{"heartbeat":{"monitorID":"one","status":0}}`:                               "monitorID",
		`{"monitor":{"id":1}}`: "heartbeat",
		`[]`:                   "JSON",
	})
}

func FuzzDecode(f *testing.F) {
	sourcetest.Fuzz(f, "*.json", (&Source{Severity: incidents.Critical, GroupBy: "tag:site"}).DecodeEvents)
}
