package silences

import (
	"strings"
	"testing"

	"github.com/opsbot/opsbot/incidents"
)

func TestMatchers(t *testing.T) {
	inc := &incidents.Incident{ID: 5, Alerts: []incidents.Alert{
		{Labels: map[string]string{"alertname": "Down", "service": "git", "instance": "a"}},
		{Labels: map[string]string{"alertname": "Down", "service": "git", "instance": "b"}},
	}}
	m, err := Matchers(inc)
	if err != nil || len(m) != 2 || m["alertname"] != "Down" || m["service"] != "git" {
		t.Fatalf("%v %v", m, err)
	}
	inc.Alerts = append(inc.Alerts, incidents.Alert{Labels: map[string]string{"alertname": "Other"}})
	if _, err := Matchers(inc); err == nil || !strings.Contains(err.Error(), "share no label") {
		t.Fatalf("no common label: %v", err)
	}
	if _, err := New("not a url", "", nil); err == nil {
		t.Fatal("a bad URL made a client")
	}
}
