package alertmanager

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opsbot/opsbot/incidents"
)

func load(t *testing.T, name string) *Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var severities = map[string]string{"critical": "critical", "page": "critical", "warning": "warning"}

func TestEvents(t *testing.T) {
	src := &Source{SeverityLabel: "severity", Severities: severities, DefaultSeverity: incidents.Info}
	evs, err := src.Events(load(t, "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	a, b := evs[0], evs[1]
	if a.Action != incidents.Trigger || a.DedupKey != "c6f3b1a3e1d0a4b2" || a.GroupKey != `{}:{alertname="ProbeFailure"}` ||
		a.Severity != incidents.Critical || b.Severity != incidents.Warning || a.Summary != "git.example.org is unreachable" {
		t.Fatalf("events %+v %+v", a, b)
	}
	if !a.OccurredAt.Equal(load(t, "firing.json").Alerts[0].StartsAt) || len(a.Links) != 2 || a.Links[1].Text != "runbook" {
		t.Fatalf("event %+v", a)
	}
	// The same alert, resolved: a different event; retried: the same ids.
	res, _ := src.Events(load(t, "resolved.json"))
	if res[0].Action != incidents.Resolve || res[0].ID == a.ID || res[0].OccurredAt.Format("15:04") != "08:12" {
		t.Fatalf("resolved %+v", res[0])
	}
	again, _ := src.Events(load(t, "firing.json"))
	if again[0].ID != a.ID || again[1].ID != b.ID || a.ID == b.ID {
		t.Fatal("event ids are not stable")
	}
}

func TestGroupByAndDefaults(t *testing.T) {
	src := &Source{GroupBy: []string{"instance"}, SeverityLabel: "severity", Severities: severities, DefaultSeverity: incidents.Info}
	evs, _ := src.Events(load(t, "firing.json"))
	if evs[0].GroupKey != `alertmanager:{instance="https://git.example.org"}` || evs[0].GroupKey == evs[1].GroupKey {
		t.Fatalf("group keys %q %q", evs[0].GroupKey, evs[1].GroupKey)
	}
	m, err := Decode([]byte(`{"version":"4","status":"firing","groupKey":"g","alerts":[
		{"status":"firing","labels":{"alertname":"Up","instance":"nas:9100","severity":"P1"},"startsAt":"2026-01-01T00:00:00Z"},
		{"status":"firing","labels":{"alertname":"Up"},"startsAt":"2026-01-01T00:00:00Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	evs, err = src.Events(m)
	if err != nil {
		t.Fatal(err)
	}
	// Unknown severities get the default; without annotations the summary
	// is made of labels; without a fingerprint one is made of the labels.
	if evs[0].Severity != incidents.Info || evs[0].Summary != "Up on nas:9100" || evs[1].Summary != "Up" ||
		evs[0].DedupKey == "" || evs[0].DedupKey == evs[1].DedupKey || evs[1].GroupKey != `alertmanager:{instance=""}` {
		t.Fatalf("events %+v %+v", evs[0], evs[1])
	}
}

func TestManyLabelsAreKept(t *testing.T) {
	var labels []string
	for i := range 80 {
		labels = append(labels, `"l`+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26))+`":"v"`)
	}
	m, err := Decode([]byte(`{"version":"4","status":"firing","groupKey":"g","alerts":[{"status":"firing","labels":{` +
		strings.Join(labels, ",") + `},"startsAt":"2026-01-01T00:00:00Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := (&Source{DefaultSeverity: incidents.Warning}).Events(m)
	if err != nil || len(evs[0].Labels) != incidents.MaxLabels {
		t.Fatalf("%v, %d labels", err, len(evs[0].Labels))
	}
}
