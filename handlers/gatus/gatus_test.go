package gatus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsbot/opsbot/handlers/sourcetest"

	"github.com/opsbot/opsbot/incidents"
)

func decode(t *testing.T, src *Source, name string) *incidents.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := src.DecodeEvents(b, "delivery-1")
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return evs[0]
}

func TestDecode(t *testing.T) {
	src := &Source{Severity: incidents.Critical, GroupBy: "group"}
	tr := decode(t, src, "triggered.txt")
	if tr.Action != incidents.Trigger || tr.DedupKey != "gatus:core/forgejo" || tr.GroupKey != "gatus:group:core" ||
		tr.Summary != "core/forgejo is failing: healthcheck failed 3 times in a row" || !strings.Contains(string(tr.Details), `connection refused`) {
		t.Fatalf("triggered: %+v %s", tr, tr.Details)
	}
	res := decode(t, src, "resolved.txt")
	if res.Action != incidents.Resolve || res.DedupKey != tr.DedupKey || res.GroupKey != tr.GroupKey {
		t.Fatalf("resolved: %+v", res)
	}
	js := decode(t, &Source{Severity: incidents.Warning, GroupBy: "group"}, "triggered.json")
	if js.DedupKey != "gatus:nas-smb" || js.GroupKey != js.DedupKey || js.Severity != incidents.Warning || len(js.Links) != 0 {
		t.Fatalf("json: %+v", js)
	}
	old, err := src.DecodeEvents([]byte("state=TRIGGERED\ngroup=[ENDPOINT_GROUP]\nname=x\nerrors=[RESULT_ERRORS]\n"), "d")
	if err != nil || old[0].Details != nil || old[0].DedupKey != "gatus:x" {
		t.Fatalf("unfilled placeholders: %v %+v", err, old)
	}
	if ep := decode(t, &Source{Severity: incidents.Critical, GroupBy: "endpoint"}, "triggered.txt"); ep.GroupKey != ep.DedupKey {
		t.Fatalf("by endpoint: %+v", ep)
	}
}

func TestBadInput(t *testing.T) {
	src := &Source{Severity: incidents.Critical, GroupBy: "group"}
	sourcetest.Rejects(t, src.DecodeEvents, map[string]string{
		"state=BURNING\nname=x":                    "state",
		"state=TRIGGERED\n":                        "name",
		"state=TRIGGERED\nname=[ENDPOINT_NAME]":    "placeholder",
		"state=TRIGGERED\nthis line has no equals": "line 2",
		`{"state":"TRIGGERED","name":5}`:           "name",
		"":                                         "state",
	})
}

func FuzzDecode(f *testing.F) {
	sourcetest.Fuzz(f, "*.*", (&Source{Severity: incidents.Critical, GroupBy: "group"}).DecodeEvents)
}
