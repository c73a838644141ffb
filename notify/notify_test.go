package notify_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify"
	"github.com/opsbot/opsbot/notify/ntfy"
	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
	"github.com/opsbot/opsbot/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// setup opens a store with targets, opens one incident per name, and makes
// a dispatcher for the ntfy servers.
func setup(t *testing.T, c *clock, servers map[string]*ntfytest.Server, incidentsN int) (*store.Store, *notify.Dispatcher, map[string]int) {
	t.Helper()
	var names []string
	for n := range servers {
		names = append(names, n)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "opsbot.db"), store.Options{Rules: incidents.DefaultRules(), Now: c.now, Targets: names})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var envs []incidents.Envelope
	for i := range incidentsN {
		ev := &incidents.Event{ID: string(rune('a' + i)), Source: "test", Action: incidents.Trigger, DedupKey: string(rune('a' + i)), Summary: "down"}
		ev.Validate(incidents.Critical)
		envs = append(envs, incidents.Envelope{Event: ev, At: c.now()})
	}
	if _, err := st.Apply(context.Background(), envs); err != nil {
		t.Fatal(err)
	}
	targets := map[string]notify.Target{}
	for name, srv := range servers {
		limit := rate.NewLimiter(rate.Inf, 1)
		if name == "up" {
			limit = rate.NewLimiter(rate.Every(time.Hour), 2)
		}
		targets[name] = notify.Target{Notifier: &ntfy.Notifier{URL: srv.URL, Topic: "t", Token: "tk_" + name, Client: srv.Client()}, Limit: limit}
	}
	results := map[string]int{}
	var mu sync.Mutex
	d := &notify.Dispatcher{Store: st, Targets: targets, GiveUpAfter: time.Hour, MinBackoff: time.Second, MaxBackoff: time.Minute,
		SendTimeout: 5 * time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: c.now,
		Result: func(target, result string) { mu.Lock(); results[target+" "+result]++; mu.Unlock() }}
	return st, d, results
}

func TestDispatcher(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)}
	up, down, wrong := ntfytest.New("tk_up"), ntfytest.New("tk_down"), ntfytest.New("tk_other")
	defer up.Close()
	defer down.Close()
	defer wrong.Close()
	down.SetDown(true)
	st, d, results := setup(t, c, map[string]*ntfytest.Server{"up": up, "down": down, "wrong": wrong}, 3)

	round := func() {
		t.Helper()
		if _, err := d.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Three rounds, time moving on past any backoff in between.
	for range 3 {
		round()
		c.add(2 * time.Minute)
	}
	// "up" allows 2 at once and then 1 an hour: 2 of 3 are sent.
	if got := len(up.Messages()); got != 2 || results["up sent"] != 2 {
		t.Fatalf("up: %d messages, %v", got, results)
	}
	// "wrong" answers 401 to the token: given up at once, no retries.
	if results["wrong given_up"] != 3 || results["wrong failed"] != 0 {
		t.Fatalf("wrong: %v", results)
	}
	// "down" is retried, then given up after an hour.
	if results["down failed"] == 0 || results["down given_up"] != 0 {
		t.Fatalf("down: %v", results)
	}
	c.add(time.Hour)
	round()
	if results["down given_up"] != 3 || results["down failed"] != 9 {
		t.Fatalf("down after an hour: %v", results)
	}
	given, err := st.ListNotifications(ctx, "given_up", 50)
	if err != nil || len(given) != 6 || given[0].LastError == "" {
		t.Fatalf("given up: %+v %v", given, err)
	}
	// The rate limit holds the third for "up"; it is still pending.
	pending, _ := st.ListNotifications(ctx, "pending", 50)
	if len(pending) != 1 || pending[0].Target != "up" {
		t.Fatalf("pending: %+v", pending)
	}
}
