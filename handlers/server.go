// Package handlers is opsbot's HTTP surface: the webhook endpoints that turn
// a source's payload into normalized events on the bus, the incident API,
// health, readiness and metrics. A webhook is answered 2xx only after the
// bus has stored its events.
package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opsbot/opsbot/handlers/jsonutil"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/ops"
)

// Publisher stores events on the bus; commands go through ops.
type Publisher interface {
	PublishEvents(ctx context.Context, evs []*incidents.Event, origin string) error
	// PublishRaw stores a source's payload as it came; evs are its events,
	// decoded with delivery.
	PublishRaw(ctx context.Context, source string, body []byte, evs []*incidents.Event, origin, delivery string) error
}

// Reader lists notices; incidents are read through ops.
type Reader interface {
	ListNotices(ctx context.Context, f incidents.NoticeFilter) (incidents.NoticePage, error)
}

// Hook is one source's webhook, POST /hooks/{Name}.
type Hook struct {
	Name string
	// Decode turns a body into events; the reducer decodes the same body
	// from opsbot.raw.{Name} with the same function.
	Decode func(body []byte, delivery string) ([]*incidents.Event, error)
	// Tokens are accepted on this hook besides Server.Tokens.
	Tokens []Token
}

// Waiter hands over the reducer's outcome of a published message.
type Waiter interface {
	Expect(id string) (<-chan incidents.Outcome, func())
}

// Token is a bearer token, the name of who holds it, and what it may do:
// the highest of the permission classes listed (read, respond, operate;
// see ops.Perm); none listed: everything.
type Token struct {
	Name, Value string
	Permissions []string
}

// perm is the token's permission class.
func (t *Token) perm() ops.Perm {
	if len(t.Permissions) == 0 {
		return ops.Operate
	}
	p := ops.None
	for _, x := range t.Permissions {
		if q, err := ops.ParsePerm(x); err == nil && q > p {
			p = q
		}
	}
	return p
}

// may reports whether the token has permission class p ("" for any).
func (t *Token) may(p string) bool {
	q, err := ops.ParsePerm(p)
	return p == "" || err == nil && t.perm() >= q
}

// Server serves opsbot's HTTP API.
type Server struct {
	Log       *slog.Logger
	Publisher Publisher
	Reader    Reader
	Waiter    Waiter
	Metrics   *Metrics
	// Ready reports why opsbot is not ready, nil when it is.
	Ready func(ctx context.Context) error
	// Tokens protect hooks and API; none means open (loopback only).
	Tokens          []Token
	MaxBodyBytes    int64
	PublishTimeout  time.Duration
	Hooks           []Hook
	DefaultSeverity incidents.Severity
	// NewID makes ids for events and commands that come without one.
	NewID func() string
	// Actions verifies notification buttons; nil serves none.
	Actions ActionVerifier
	// Ops executes the commands people give.
	Ops *ops.Service
	// Notifications lists the outbox; nil serves none.
	Notifications func(ctx context.Context, state string, limit int) (any, error)
}

// Handler routes every endpoint.
func (s *Server) Handler() http.Handler {
	global := sums(s.Tokens)
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc, auth bool) {
		if auth {
			perm := "read"
			if !strings.HasPrefix(pattern, "GET ") {
				perm = "respond"
			}
			h = authorize(s.Tokens, global, perm, h)
		}
		mux.Handle(pattern, s.Metrics.instrument(h))
	}
	// Commands go to ops, which authorizes them; those that act are
	// audited, allowed or refused.
	command := func(pattern, name string, h func(http.ResponseWriter, *http.Request, ops.Caller)) {
		mux.Handle(pattern, s.Metrics.instrument(s.identify(name, !strings.HasPrefix(pattern, "GET "), h)))
	}
	for _, h := range s.Hooks {
		tokens := append(append([]Token{}, s.Tokens...), h.Tokens...)
		mux.Handle("POST /hooks/"+h.Name, s.Metrics.instrument(authorize(tokens, sums(tokens), "", s.hook(h))))
	}
	handle("GET /api/v1/notices", s.listNotices, true)
	if s.Actions != nil {
		mux.Handle("POST /actions/{token}", s.Metrics.instrument(http.HandlerFunc(s.action)))
	}
	command("GET /api/v1/audit", "audit", s.listAudit)
	command("GET /api/v1/status", "status", s.status)
	command("POST /api/v1/maintenance", "maintenance start", s.createWindow)
	command("GET /api/v1/maintenance", "maintenance list", s.listWindows)
	command("DELETE /api/v1/maintenance/{id}", "maintenance end", s.endWindow)
	if s.Notifications != nil {
		handle("GET /api/v1/notifications", s.listNotifications, true)
	}
	handle("POST /api/v1/events", s.postEvent, true)
	command("POST /api/v1/deploys", "deploy plan", s.createPlan)
	command("POST /api/v1/deploys/plans/{id}/approve", "deploy approve", s.approvePlan)
	command("GET /api/v1/deploys", "deploys", s.listRuns)
	command("GET /api/v1/deploys/{id}", "deploy log", s.getRun)
	command("POST /api/v1/upgrades/plans", "upgrade plan", s.createUpgradePlan)
	command("GET /api/v1/upgrades/plans/{id}", "upgrade show", s.getUpgradePlan)
	command("POST /api/v1/upgrades/plans/{id}/apply", "upgrade apply", s.applyUpgrade)
	command("GET /api/v1/upgrades/{id}", "upgrade status", s.getUpgrade)
	command("POST /api/v1/upgrades/{id}/resume", "upgrade resume", s.resumeUpgrade)
	command("POST /api/v1/reports/upgrade", "report now", s.startReport)
	command("GET /api/v1/reports", "reports", s.listReports)
	command("GET /api/v1/reports/{id}", "report show", s.getReport)
	command("GET /api/v1/incidents", "incidents", s.listIncidents)
	command("GET /api/v1/incidents/{id}", "incident show", s.getIncident)
	command("POST /api/v1/incidents/{id}/{verb}", "incident {verb}", s.incidentCommand)
	handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}, false)
	handle("GET /readyz", s.readyz, false)
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

type ctxKey struct{}

// caller is the name of the token the request came with ("local" without tokens).
func caller(r *http.Request) string {
	if n, ok := r.Context().Value(ctxKey{}).(string); ok {
		return n
	}
	return "local"
}

func sums(tokens []Token) [][sha256.Size]byte {
	out := make([][sha256.Size]byte, len(tokens))
	for i, t := range tokens {
		out[i] = sha256.Sum256([]byte(t.Value))
	}
	return out
}

// authorize lets through requests with one of tokens (whose sums are
// given) that has permission perm ("" for any), or every request when there
// are no tokens (loopback only).
func authorize(tokens []Token, tokenSums [][sha256.Size]byte, perm string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(tokens) == 0 {
			next(w, r)
			return
		}
		if t := match(tokens, tokenSums, r); t != nil {
			if !t.may(perm) {
				writeError(w, http.StatusForbidden, fmt.Sprintf("token %s may not %s (it may: %s)", t.Name, perm, strings.Join(t.Permissions, ", ")))
				return
			}
			next(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, t.Name)))
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="opsbot"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
	}
}

// match returns the token the request carries, nil if none matches.
func match(tokens []Token, tokenSums [][sha256.Size]byte, r *http.Request) *Token {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
	found := -1
	for i := range tokenSums {
		if subtle.ConstantTimeCompare(sum[:], tokenSums[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	return &tokens[found]
}

// readBody reads a size-limited body, answering 413 or 400 itself if it cannot.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", tooBig.Limit))
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return nil, false
	}
	return body, true
}

func decodeJSON(body []byte, v any) error { return jsonutil.Decode(body, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Error is the JSON body of every error answer.
type Error struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, Error{Error: msg})
}

// origin describes where a request came from, for the timeline.
func origin(r *http.Request) string {
	return fmt.Sprintf("http %s %s from %s (token %s)", r.Method, r.URL.Path, r.RemoteAddr, caller(r))
}

// publish stores events (with raw, the payload of hook they came from in
// delivery) and answers 503 itself if the bus cannot.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, evs []*incidents.Event, hook string, raw []byte, delivery string) bool {
	ctx, cancel := context.WithTimeout(r.Context(), s.PublishTimeout)
	defer cancel()
	var err error
	if raw != nil {
		err = s.Publisher.PublishRaw(ctx, hook, raw, evs, origin(r), delivery)
	} else {
		err = s.Publisher.PublishEvents(ctx, evs, origin(r))
	}
	if err != nil {
		s.Log.Error("publish failed", "path", r.URL.Path, "events", len(evs), "err", err)
		s.Metrics.rejected(evs[0].Source, "unavailable", len(evs))
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the event bus could not store the events; retry later")
		return false
	}
	s.Metrics.received(evs[0].Source, len(evs))
	return true
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
