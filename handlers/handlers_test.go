package handlers_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/opsbot/opsbot/handlers"
	"github.com/opsbot/opsbot/incidents"
)

func TestAlertmanagerLifecycle(t *testing.T) {
	e := newEnv(t)
	for _, step := range []struct {
		file   string
		state  incidents.State
		sev    incidents.Severity
		firing int
	}{
		{"alertmanager/testdata/firing.json", incidents.Triggered, incidents.Critical, 2},
		{"alertmanager/testdata/firing.json", incidents.Triggered, incidents.Critical, 2}, // a retry
		{"alertmanager/testdata/partly-resolved.json", incidents.Triggered, incidents.Warning, 1},
		{"alertmanager/testdata/resolved.json", incidents.Resolved, incidents.Warning, 0},
		{"alertmanager/testdata/resolved.json", incidents.Resolved, incidents.Warning, 0}, // a retry
	} {
		code, body := e.do("POST", "/hooks/alertmanager", "", testdata(t, step.file))
		if code != http.StatusAccepted {
			t.Fatalf("%s: %d %v", step.file, code, body)
		}
		e.settle()
		all := e.incidents("all")
		if len(all) != 1 {
			t.Fatalf("%s: %d incidents", step.file, len(all))
		}
		if i := all[0]; i.State != step.state || i.Severity != step.sev || i.FiringAlerts != step.firing {
			t.Fatalf("%s: incident %s/%s/%d, want %s/%s/%d", step.file, i.State, i.Severity, i.FiringAlerts, step.state, step.sev, step.firing)
		}
	}
	inc, err := e.store.Incident(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, en := range inc.Timeline {
		kinds[en.Kind]++
	}
	// Each alert fired once and resolved once however often it was retried.
	if kinds[incidents.KindAlertFiring] != 2 || kinds[incidents.KindAlertResolved] != 2 || kinds[incidents.KindResolved] != 1 {
		t.Fatalf("timeline %v", kinds)
	}
	if inc.Title != "git.example.org is unreachable" || inc.GroupKey != `{}:{alertname="ProbeFailure"}` || inc.Source != "alertmanager" {
		t.Fatalf("incident %+v", inc)
	}
	if a := inc.Alerts[0]; a.DedupKey != "c6f3b1a3e1d0a4b2" || a.EndsAt == nil || len(a.Links) != 2 || a.Labels["instance"] != "https://git.example.org" {
		t.Fatalf("alert %+v", a)
	}
}

func TestNewerAlertmanagerFieldsAreTolerated(t *testing.T) {
	e := newEnv(t)
	code, body := e.do("POST", "/hooks/alertmanager", "", testdata(t, "alertmanager/testdata/v034-newer-fields.json"))
	if code != http.StatusAccepted {
		t.Fatalf("%d %v", code, body)
	}
	e.settle()
	all := e.incidents("all")
	if len(all) != 1 || all[0].Severity != incidents.Critical || all[0].Title != "/srv on nas is 97% full" {
		t.Fatalf("%+v", all)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t, handlers.Token{Name: "am", Value: testToken})
	good := testdata(t, "alertmanager/testdata/firing.json")
	replace := func(old, new string) []byte { return bytes.Replace(good, []byte(old), []byte(new), 1) }
	tests := []struct {
		name  string
		path  string
		token string
		body  []byte
		code  int
		want  string
	}{
		{"no token", "/hooks/alertmanager", "", good, 401, "bearer token"},
		{"wrong token", "/hooks/alertmanager", "not-the-token-at-all", good, 401, "bearer token"},
		{"malformed JSON", "/hooks/alertmanager", testToken, good[:len(good)/2], 400, "unexpected end"},
		{"not JSON", "/hooks/alertmanager", testToken, []byte("status=firing"), 400, "invalid JSON"},
		{"empty body", "/hooks/alertmanager", testToken, nil, 400, "body is empty"},
		{"two values", "/hooks/alertmanager", testToken, append(append([]byte{}, good...), good...), 400, "more than one value"},
		{"wrong type", "/hooks/alertmanager", testToken, replace(`"truncatedAlerts": 0`, `"truncatedAlerts": "none"`), 400, "truncatedAlerts"},
		{"wrong version", "/hooks/alertmanager", testToken, replace(`"version": "4"`, `"version": "3"`), 400, "version"},
		{"missing groupKey", "/hooks/alertmanager", testToken, replace(`"groupKey"`, `"groupKeyX"`), 400, "groupKey"},
		{"bad status", "/hooks/alertmanager", testToken, replace(`"status": "firing",
  "alerts"`, `"status": "burning",
  "alerts"`), 400, "status"},
		{"bad alert status", "/hooks/alertmanager", testToken, replace(`"status": "firing",
      "labels"`, `"status": "on",
      "labels"`), 400, "alerts[0].status"},
		{"no alerts", "/hooks/alertmanager", testToken, []byte(`{"version":"4","status":"firing","groupKey":"g","alerts":[]}`), 400, "alerts: is empty"},
		{"alert without labels", "/hooks/alertmanager", testToken, []byte(`{"version":"4","status":"firing","groupKey":"g","alerts":[{"status":"firing","startsAt":"2026-01-01T00:00:00Z"}]}`), 400, "labels"},
		{"alert without startsAt", "/hooks/alertmanager", testToken, []byte(`{"version":"4","status":"firing","groupKey":"g","alerts":[{"status":"firing","labels":{"a":"b"}}]}`), 400, "startsAt"},
		{"huge body", "/hooks/alertmanager", testToken, bytes.Repeat([]byte(" "), 65<<10), 413, "larger than"},
		{"event without source", "/api/v1/events", testToken, []byte(`{"action":"trigger","dedup_key":"x"}`), 400, "source"},
		{"event with bad action", "/api/v1/events", testToken, []byte(`{"source":"s","action":"explode","dedup_key":"x"}`), 400, "action"},
		{"event with bad severity", "/api/v1/events", testToken, []byte(`{"source":"s","action":"trigger","dedup_key":"x","severity":"urgent"}`), 400, "severity"},
		{"event with labels of the wrong type", "/api/v1/events", testToken, []byte(`{"source":"s","action":"trigger","dedup_key":"x","labels":{"a":1}}`), 400, "labels"},
		{"event without token", "/api/v1/events", "", []byte(`{"source":"s","action":"trigger","dedup_key":"x"}`), 401, "bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := e.do("POST", tt.path, tt.token, tt.body)
			msg, _ := body["error"].(string)
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Fatalf("%d %q, want %d with %q", code, msg, tt.code, tt.want)
			}
		})
	}
	if n := e.stored(); n != 0 {
		t.Fatalf("bad input stored %d messages", n)
	}
	if code, _ := e.do("GET", "/api/v1/incidents", "", nil); code != 401 {
		t.Fatalf("API without token: %d", code)
	}
	// Health and readiness need no token.
	if code, _ := e.do("GET", "/readyz", "", nil); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	// And the good payload with the token goes through.
	if code, body := e.do("POST", "/hooks/alertmanager", testToken, good); code != 202 {
		t.Fatalf("good payload: %d %v", code, body)
	}
	e.settle()
	if len(e.incidents("all")) != 1 {
		t.Fatal("the good payload made no incident")
	}
}

func TestUnavailableBusAnswers503(t *testing.T) {
	e := newEnv(t)
	e.bus.Close()
	code, body := e.do("POST", "/hooks/alertmanager", "", testdata(t, "alertmanager/testdata/firing.json"))
	if code != http.StatusServiceUnavailable {
		t.Fatalf("%d %v", code, body)
	}
	if code, _ := e.do("GET", "/readyz", "", nil); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the bus down: %d", code)
	}
}

func TestIncidentCommands(t *testing.T) {
	e := newEnv(t, handlers.Token{Name: "cli", Value: testToken})
	if code, body := e.do("POST", "/api/v1/events?wait=true", testToken,
		[]byte(`{"id":"e1","source":"backup","action":"trigger","dedup_key":"restic-nas","severity":"critical","summary":"backup failed"}`)); code != 202 || body["outcome"] != "opened" {
		t.Fatalf("event: %d %v", code, body)
	}
	post := func(path, body string) (int, map[string]any) { return e.do("POST", path, testToken, []byte(body)) }
	tests := []struct {
		path, body string
		code       int
		want       string // outcome, or the error sentence
	}{
		{"/api/v1/incidents/1/unack", ``, 409, "incident #1 is not acknowledged"},
		{"/api/v1/incidents/1/ack", `{"actor":"alice"}`, 200, "acknowledged"},
		{"/api/v1/incidents/1/ack", `{"actor":"bob"}`, 409, "incident #1 is already acknowledged by alice"},
		{"/api/v1/incidents/1/snooze", `{"duration":"soon"}`, 400, "duration"},
		{"/api/v1/incidents/1/snooze", `{"duration":"1h","text":"upstream maintenance"}`, 200, "snoozed"},
		{"/api/v1/incidents/1/comment", `{}`, 400, "a comment needs text"},
		{"/api/v1/incidents/1/comment", `{"text":"disk replaced"}`, 200, "commented"},
		{"/api/v1/incidents/1/unack", ``, 200, "unacknowledged"},
		{"/api/v1/incidents/1/resolve", `{"text":"fixed"}`, 200, "resolved"},
		{"/api/v1/incidents/1/resolve", ``, 409, "incident #1 is already resolved"},
		{"/api/v1/incidents/1/explode", ``, 404, "no action"},
		{"/api/v1/incidents/1/silence", `{"duration":"1h"}`, 501, "no Alertmanager is configured"},
		{"/api/v1/incidents/7/ack", ``, 404, "incident #7 does not exist"},
		{"/api/v1/incidents/x/ack", ``, 400, "not an incident id"},
		{"/api/v1/incidents/1/ack", `{"actor":`, 400, "JSON"},
	}
	for _, tt := range tests {
		code, body := post(tt.path, tt.body)
		got, _ := body["outcome"].(string)
		if code != 200 {
			got, _ = body["error"].(string)
		}
		if code != tt.code || !strings.Contains(got, tt.want) {
			t.Fatalf("POST %s %s: %d %v, want %d %q", tt.path, tt.body, code, body, tt.code, tt.want)
		}
	}
	code, body := e.do("GET", "/api/v1/incidents/1", testToken, nil)
	if code != 200 || body["state"] != "resolved" {
		t.Fatalf("incident: %d %v", code, body)
	}
	var kinds []string
	for _, en := range body["timeline"].([]any) {
		m := en.(map[string]any)
		kinds = append(kinds, m["kind"].(string)+"/"+m["actor"].(string))
	}
	want := "opened/backup alert_firing/backup acknowledged/alice snoozed/cli comment/cli unacknowledged/cli resolved/cli"
	if strings.Join(kinds, " ") != want {
		t.Fatalf("timeline %v\nwant %s", kinds, want)
	}
	for _, q := range []string{"?state=resolved", "?state=all", "?state=open&limit=1"} {
		code, body := e.do("GET", "/api/v1/incidents"+q, testToken, nil)
		list, _ := body["incidents"].([]any)
		wantN := 1
		if q == "?state=open&limit=1" {
			wantN = 0
		}
		if code != 200 || len(list) != wantN {
			t.Fatalf("list %s: %d %v", q, code, body)
		}
	}
	if code, _ := e.do("GET", "/api/v1/incidents?state=weird", testToken, nil); code != 400 {
		t.Fatalf("bad state: %d", code)
	}
}
