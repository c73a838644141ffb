package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/bus"
	"github.com/opsbot/opsbot/handlers"
	"github.com/opsbot/opsbot/handlers/alertmanager"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/internal/spinetest"
	"github.com/opsbot/opsbot/ops"
	"github.com/opsbot/opsbot/store"
)

// env is a real opsbot core in one process: embedded NATS with JetStream
// (in-process only), a SQLite file, the reducer and the HTTP API.
type env struct {
	t     *testing.T
	bus   *bus.Bus
	store *store.Store
	url   string
	stop  func()
}

const testToken = "0123456789abcdef-test-token"

func newEnv(t *testing.T, tokens ...handlers.Token) *env {
	t.Helper()
	am := alertmanager.Source{SeverityLabel: "severity", DefaultSeverity: incidents.Warning,
		Severities: map[string]string{"critical": "critical", "page": "critical", "warning": "warning"}}
	sp := spinetest.Start(t, map[string]bus.RawDecoder{"alertmanager": am.DecodeEvents})
	st, b, results, log, rules := sp.Store, sp.Bus, sp.Results, sp.Log, sp.Rules
	metrics := handlers.NewMetrics(handlers.StateSource{OpenCounts: st.OpenCounts, Lag: b.Lag})
	srv := &handlers.Server{
		Log: log, Publisher: b, Reader: st, Waiter: results, Metrics: metrics,
		Ready:  func(ctx context.Context) error { return b.Ready(ctx) },
		Tokens: tokens, MaxBodyBytes: 64 << 10, PublishTimeout: 2 * time.Second,
		DefaultSeverity: incidents.Warning, NewID: func() string { return time.Now().Format(time.RFC3339Nano) },
		Hooks: []handlers.Hook{{Name: "alertmanager", Decode: am.DecodeEvents}},
	}
	srv.Ops = &ops.Service{Log: log, Publisher: b, Reader: st, Waiter: results, WaitTimeout: 5 * time.Second, Rules: rules,
		NewID: srv.NewID, Windows: st, Audit: st}
	hs := httptest.NewServer(srv.Handler())
	e := &env{t: t, bus: b, store: st, url: hs.URL}
	var stopped bool
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		hs.Close()
		sp.Stop()
	}
	t.Cleanup(e.stop)
	return e
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do sends a request and returns the status and the decoded JSON body.
func (e *env) do(method, path, token string, body []byte) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if len(data) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON: %s", method, path, data)
		}
	}
	return resp.StatusCode, out
}

// settle waits until the reducer has applied everything stored.
func (e *env) settle() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		lag, err := e.bus.Lag(context.Background())
		if err == nil && lag == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatal("the reducer did not catch up in 10s")
}

func (e *env) stored() uint64 {
	e.t.Helper()
	n, err := e.bus.StreamMessages(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) incidents(state string) []incidents.Incident {
	e.t.Helper()
	f := incidents.Filter{Limit: 500}
	if state == "open" {
		f.States = []incidents.State{incidents.Triggered, incidents.Acknowledged}
	}
	p, err := e.store.ListIncidents(context.Background(), f)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Incidents
}
