// Package spinetest starts opsbot's spine for tests: a real SQLite store,
// the embedded NATS server with its stream, and the reducer between them.
package spinetest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bus"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/store"
)

// Spine is a running store, bus and reducer.
type Spine struct {
	Store   *store.Store
	Bus     *bus.Bus
	Results *bus.Results
	Log     *slog.Logger
	Rules   incidents.Rules
	stop    func()
}

// Start starts a spine in a temporary directory, reducing raw payloads
// with raw; it stops when the test ends, or at Stop.
func Start(t *testing.T, raw map[string]bus.RawDecoder) *Spine {
	t.Helper()
	dir := t.TempDir()
	s := &Spine{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Rules: incidents.DefaultRules(), Results: &bus.Results{}}
	st, err := store.Open(filepath.Join(dir, "opsbot.db"), store.Options{Rules: s.Rules})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.Open(context.Background(), bus.Config{
		StoreDir: filepath.Join(dir, "nats"), Stream: "OPSBOT", Replicas: 1, DuplicateWindow: time.Minute,
		MaxAge: time.Hour, AckWait: 5 * time.Second, BatchSize: 64,
	}, s.Log)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	s.Store, s.Bus = st, b
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Reduce(ctx, st, incidents.Warning, bus.Hooks{
			Applied: func(_ []incidents.Envelope, out []incidents.Outcome) { s.Results.Deliver(out) },
			Raw:     raw,
		})
	}()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		b.Close()
		st.Close()
	}
	t.Cleanup(s.stop)
	return s
}

// Stop stops the reducer, then closes the bus and the store.
func (s *Spine) Stop() { s.stop() }
