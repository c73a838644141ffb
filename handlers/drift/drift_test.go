package drift

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsbot/opsbot/handlers/sourcetest"

	"github.com/opsbot/opsbot/incidents"
)

func TestDecode(t *testing.T) {
	src := &Source{Severity: incidents.Warning}
	b, _ := os.ReadFile(filepath.Join("testdata", "drifted.json"))
	evs, err := src.DecodeEvents(b, "d1")
	if err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	if ev.Action != incidents.Trigger || ev.DedupKey != "drift:nas" || ev.Summary != "nas has drifted: /etc drifted from the deployed generation" ||
		!strings.Contains(string(ev.Details), "worker_connections 4096") || ev.Labels["revision"] != "3f2c1e9" {
		t.Fatalf("%+v", ev)
	}
	b, _ = os.ReadFile(filepath.Join("testdata", "in-sync.json"))
	evs, _ = src.DecodeEvents(b, "d2")
	if evs[0].Action != incidents.Resolve || evs[0].DedupKey != "drift:nas" || evs[0].ID == ev.ID {
		t.Fatalf("%+v", evs[0])
	}
	long := `{"host":"h","drifted":true,"diff":"` + strings.Repeat("x", 40000) + `"}`
	evs, err = src.DecodeEvents([]byte(long), "d3")
	if err != nil || len(evs[0].Details) > MaxDiff+200 {
		t.Fatalf("long diff: %v, %d bytes", err, len(evs[0].Details))
	}
	sourcetest.Rejects(t, src.DecodeEvents, map[string]string{`{"drifted":true}`: "host", `{"host":"h"}`: "drifted", `{"host":"h","drifted":"yes"}`: "drifted"})
}

func FuzzDecode(f *testing.F) {
	sourcetest.Fuzz(f, "*.json", (&Source{Severity: incidents.Warning}).DecodeEvents)
}
