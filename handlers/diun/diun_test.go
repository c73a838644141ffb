package diun

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opsbot/opsbot/handlers/sourcetest"

	"github.com/opsbot/opsbot/incidents"
)

func TestDecode(t *testing.T) {
	b, _ := os.ReadFile(filepath.Join("testdata", "update.json"))
	evs, err := (&Source{Severity: incidents.Info, Labels: map[string]string{"site": "home"}}).DecodeEvents(b, "d")
	if err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	if ev.Action != incidents.Record || ev.Summary != "update image docker.io/linuxserver/nextcloud:latest on docker-1" ||
		ev.Labels["hostname"] != "docker-1" || ev.Labels["site"] != "home" || ev.OccurredAt.Year() != 2026 || len(ev.Links) != 1 {
		t.Fatalf("%+v", ev)
	}
	paged, _ := (&Source{Page: true, Severity: incidents.Warning}).DecodeEvents(b, "d")
	if paged[0].Action != incidents.Trigger || paged[0].Severity != incidents.Warning || paged[0].ID != ev.ID {
		t.Fatalf("paged: %+v", paged[0])
	}
	sourcetest.Rejects(t, (&Source{Severity: incidents.Info}).DecodeEvents, map[string]string{
		`{"status":"new"}`: "image",
		`{"image":"x"}`:    "status",
		`{"image":"x","status":"new","created":5}`: "created",
	})
}

func FuzzDecode(f *testing.F) {
	sourcetest.Fuzz(f, "*.json", (&Source{Severity: incidents.Info}).DecodeEvents)
}
