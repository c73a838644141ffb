package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Rules: incidents.DefaultRules(), Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ev(id, key string, action incidents.Action, at time.Time) incidents.Envelope {
	e := &incidents.Event{ID: id, Source: "test", Action: action, DedupKey: key, GroupKey: "web", Severity: incidents.Critical, Summary: key}
	if err := e.Validate(incidents.Warning); err != nil {
		panic(err)
	}
	return incidents.Envelope{Event: e, At: at, Origin: "test"}
}

func TestApplyIsIdempotentAndDurable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "opsbot.db")
	s := open(t, path)
	batch := []incidents.Envelope{
		ev("1", "a", incidents.Trigger, t0),
		ev("2", "b", incidents.Trigger, t0.Add(time.Second)),
		ev("1", "a", incidents.Trigger, t0), // the same delivery again, in the same batch
	}
	out, err := s.Apply(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Outcome != "opened" || out[1].Outcome != "updated" || !out[2].Duplicate || out[2].Outcome != "opened" {
		t.Fatalf("outcomes %+v", out)
	}
	// A redelivery in a later batch changes nothing either.
	out, err = s.Apply(ctx, batch[:1])
	if err != nil || !out[0].Duplicate {
		t.Fatalf("redelivery: %+v %v", out, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	inc, err := s.Incident(ctx, out[0].IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if len(inc.Alerts) != 2 || inc.FiringAlerts != 2 || inc.State != incidents.Triggered {
		t.Fatalf("incident after reopen: %+v", inc)
	}
	kinds := map[string]int{}
	for _, e := range inc.Timeline {
		kinds[e.Kind]++
	}
	if kinds[incidents.KindAlertFiring] != 2 || kinds[incidents.KindOpened] != 1 {
		t.Fatalf("timeline %+v", inc.Timeline)
	}

	// A refused command is recorded as such and changes nothing.
	cmd := func(id string, v incidents.Verb) incidents.Envelope {
		return incidents.Envelope{Command: &incidents.Command{ID: id, IncidentID: inc.ID, Verb: v, Actor: "alice", Origin: "test"}, At: t0.Add(time.Minute)}
	}
	out, err = s.Apply(ctx, []incidents.Envelope{cmd("c1", incidents.Close), cmd("c2", incidents.Ack)})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Outcome != "resolved" || out[1].Refusal != "incident #1 is already resolved" {
		t.Fatalf("commands: %+v", out)
	}
	got, _ := s.Incident(ctx, inc.ID)
	if got.State != incidents.Resolved || got.FiringAlerts != 0 || got.Alerts[0].Status != incidents.AlertResolved {
		t.Fatalf("after resolve: %+v", got)
	}
	if o, ok, err := s.Outcome(ctx, "cmd:c2"); err != nil || !ok || o.Refusal == "" {
		t.Fatalf("outcome: %+v %v %v", o, ok, err)
	}
	if _, err := s.Incident(ctx, 99); !errors.Is(err, incidents.ErrNotFound) {
		t.Fatalf("missing incident: %v", err)
	}
	out, _ = s.Apply(ctx, []incidents.Envelope{{Command: &incidents.Command{ID: "c3", IncidentID: 99, Verb: incidents.Ack, Actor: "a"}, At: t0}})
	if out[0].Refusal != "incident #99 does not exist" {
		t.Fatalf("command on a missing incident: %+v", out)
	}
}

func TestListPagesNewestFirst(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "opsbot.db"))
	defer s.Close()
	var batch []incidents.Envelope
	for i := range 7 {
		e := ev(string(rune('a'+i)), string(rune('a'+i)), incidents.Trigger, t0)
		e.Event.GroupKey = e.Event.DedupKey
		batch = append(batch, e)
	}
	if _, err := s.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	f := incidents.Filter{States: []incidents.State{incidents.Triggered}, Limit: 3}
	for {
		p, err := s.ListIncidents(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, inc := range p.Incidents {
			ids = append(ids, inc.ID)
		}
		if p.Next == 0 {
			break
		}
		f.Before = p.Next
	}
	if len(ids) != 7 || ids[0] != 7 || ids[6] != 1 {
		t.Fatalf("ids %v", ids)
	}
	p, _ := s.ListIncidents(ctx, incidents.Filter{States: []incidents.State{incidents.Resolved}})
	if len(p.Incidents) != 0 {
		t.Fatalf("resolved: %+v", p)
	}
}
