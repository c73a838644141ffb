package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// TestSilence: an incident's alerts are silenced in Debian's real
// Alertmanager, with the labels they share, and the silence is expired.
func TestSilence(t *testing.T) {
	amAddr := freePort(t)
	p := start(t, writeConfig(t, t.TempDir(), "alertmanager:\n  url: http://"+amAddr+"\n"))
	am := startAlertmanagerAt(t, p.url, amAddr)
	started := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	postAlerts(t, am, []amAlert{
		{Labels: map[string]string{"alertname": "ProbeFailure", "service": "git", "instance": "git-1"}, StartsAt: started},
		{Labels: map[string]string{"alertname": "ProbeFailure", "service": "git", "instance": "git-2"}, StartsAt: started},
	})
	var inc *incidents.Incident
	waitFor(t, 30*time.Second, "the incident", func() bool {
		all := p.all()
		if len(all) == 1 && all[0].FiringAlerts == 2 {
			inc = all[0]
			return true
		}
		return false
	})
	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(am + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	out, code := p.cli("incidents", "silence", "1", "2h", "--note", "replacing the disk")
	if code != 0 || !contains(out, "silenced") {
		t.Fatalf("silence (%d): %s", code, out)
	}
	inc, err := p.client().Incident(t.Context(), 1)
	if err != nil || inc.SilenceID == "" || inc.SilencedUntil == nil {
		t.Fatalf("%+v %v", inc, err)
	}
	var sil struct {
		ID       string `json:"id"`
		Status   struct{ State string }
		Comment  string
		Matchers []struct {
			Name, Value      string
			IsRegex, IsEqual bool
		}
	}
	get("/api/v2/silence/"+inc.SilenceID, &sil)
	names := []string{}
	for _, m := range sil.Matchers {
		if m.IsRegex || !m.IsEqual {
			t.Fatalf("matcher %+v", m)
		}
		names = append(names, m.Name+"="+m.Value)
	}
	if sil.Status.State != "active" || sil.Comment != "replacing the disk" || strings.Join(names, ",") != "alertname=ProbeFailure,service=git" {
		t.Fatalf("silence %+v", sil)
	}
	// Alertmanager itself now silences both alerts.
	var alerts []struct {
		Labels map[string]string
		Status struct{ SilencedBy []string }
	}
	get("/api/v2/alerts", &alerts)
	for _, a := range alerts {
		if len(a.Status.SilencedBy) != 1 || a.Status.SilencedBy[0] != inc.SilenceID {
			t.Fatalf("alert %v is not silenced: %+v", a.Labels, a.Status)
		}
	}
	if len(alerts) != 2 {
		t.Fatalf("%d alerts", len(alerts))
	}
	if out, code = p.cli("incidents", "unsilence", "1"); code != 0 {
		t.Fatalf("unsilence (%d): %s", code, out)
	}
	get("/api/v2/silence/"+inc.SilenceID, &sil)
	if sil.Status.State != "expired" {
		t.Fatalf("after unsilence: %+v", sil)
	}
	if out, code = p.cli("incidents", "unsilence", "1"); code != 1 || !strings.Contains(out, "has no silence") {
		t.Fatalf("second unsilence (%d): %s", code, out)
	}
	if out, _ = p.cli("incidents", "show", "1"); !contains(out, "silenced", "unsilenced") {
		t.Fatalf("%s", out)
	}
}
