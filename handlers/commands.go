package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/ops"
)

// identify authenticates a command's request and hands it on with its
// ops.Caller; ops authorizes it. A request without a valid token is
// refused here, and recorded in the audit log when the route acts.
func (s *Server) identify(command string, audit bool, next func(http.ResponseWriter, *http.Request, ops.Caller)) http.HandlerFunc {
	global := sums(s.Tokens)
	return func(w http.ResponseWriter, r *http.Request) {
		c := ops.Caller{Actor: "local", Via: "api", Perm: ops.Operate}
		if len(s.Tokens) > 0 {
			t := match(s.Tokens, global, r)
			if t == nil {
				const msg = "missing or wrong bearer token"
				if audit {
					s.Ops.Record(r.Context(), ops.Caller{Actor: "unknown (no valid token)", Via: "api"},
						strings.ReplaceAll(command, "{verb}", r.PathValue("verb")), pathTarget(r), ops.Reply{Kind: ops.Unauthenticated, Message: msg})
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="opsbot"`)
				writeError(w, http.StatusUnauthorized, msg)
				return
			}
			c.Actor, c.Perm = "token "+t.Name, t.perm()
			c.Why = "it may: " + strings.Join(t.Permissions, ", ")
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, t.Name))
		}
		c.Origin = origin(r)
		next(w, r, c)
	}
}

// actingFor names who acts: the person a token names, or the token's own
// name; the token stays on record as the principal.
func actingFor(r *http.Request, c *ops.Caller, named string) {
	if named == "" {
		named, _ = r.Context().Value(ctxKey{}).(string)
	}
	if named != "" {
		c.Principal, c.Actor = c.Actor, named
	}
}

func pathTarget(r *http.Request) string {
	if id := r.PathValue("id"); id != "" {
		return "#" + id
	}
	return ""
}

// reply writes a failed reply as an error, or hands a successful one to ok.
func reply(w http.ResponseWriter, rep ops.Reply, ok func()) {
	if rep.Kind.Failed() {
		if rep.Kind == ops.Unavailable {
			w.Header().Set("Retry-After", "5")
		}
		writeError(w, rep.Kind.HTTPStatus(), rep.Message)
		return
	}
	ok()
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	q := r.URL.Query()
	req := ops.Request{Command: "incidents", State: q.Get("state")}
	var err error
	if req.Before, req.Limit, err = pageParams(q); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep := s.Ops.Do(r.Context(), c, req)
	reply(w, rep, func() { writeJSON(w, http.StatusOK, rep.Page) })
}

func incidentID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not an incident id (a positive number, as in #42)", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, ok := incidentID(w, r)
	if !ok {
		return
	}
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "incident", Incident: id})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, rep.Incident) })
}

// CommandRequest is the optional body of POST /api/v1/incidents/{id}/{verb}.
type CommandRequest struct {
	// ID makes a retried request apply once; one is made up if empty.
	ID string `json:"id,omitempty"`
	// Actor is who acts; the token's name if empty.
	Actor string `json:"actor,omitempty"`
	// Text is the note, the comment, the snooze's reason or the silence's
	// comment.
	Text string `json:"text,omitempty"`
	// Duration of a snooze or silence, such as "30m" or "2h".
	Duration string `json:"duration,omitempty"`
}

// CommandResponse answers a command.
type CommandResponse struct {
	Status   string              `json:"status"`
	EventID  string              `json:"event_id"`
	Outcome  string              `json:"outcome,omitempty"`
	Incident *incidents.Incident `json:"incident,omitempty"`
}

func commandResponse(w http.ResponseWriter, rep ops.Reply) {
	if rep.Kind == ops.Stored {
		writeJSON(w, http.StatusAccepted, CommandResponse{Status: "stored", EventID: rep.EventID})
		return
	}
	writeJSON(w, http.StatusOK, CommandResponse{Status: "applied", EventID: rep.EventID, Outcome: rep.Outcome, Incident: rep.Incident})
}

func (s *Server) incidentCommand(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, ok := incidentID(w, r)
	if !ok {
		return
	}
	verb := incidents.Verb(r.PathValue("verb"))
	if !isVerb(verb) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no action %q: use ack, unack, resolve, comment, snooze, silence or unsilence", verb))
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req CommandRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	actingFor(r, &c, req.Actor)
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: string(verb), ID: req.ID, Incident: id, Text: req.Text, Duration: req.Duration})
	reply(w, rep, func() { commandResponse(w, rep) })
}

func isVerb(v incidents.Verb) bool {
	for _, k := range incidents.Verbs {
		if v == k {
			return true
		}
	}
	return false
}

// WindowRequest is the body of POST /api/v1/maintenance.
type WindowRequest struct {
	Matchers []string `json:"matchers"`
	Duration string   `json:"duration"`
	Comment  string   `json:"comment,omitempty"`
	Actor    string   `json:"actor,omitempty"`
}

func (s *Server) createWindow(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req WindowRequest
	if err := decodeJSON(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	actingFor(r, &c, req.Actor)
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "maintenance start", Matchers: req.Matchers, Duration: req.Duration, Text: req.Comment})
	reply(w, rep, func() { writeJSON(w, http.StatusCreated, rep.Window) })
}

func (s *Server) listWindows(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	req := ops.Request{Command: "maintenance list"}
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, "since: a duration such as 24h (windows that ended since)")
			return
		}
		req.Since = d
	}
	rep := s.Ops.Do(r.Context(), c, req)
	reply(w, rep, func() { writeJSON(w, http.StatusOK, map[string]any{"windows": rep.Windows}) })
}

func (s *Server) endWindow(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "not a maintenance window id")
		return
	}
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "maintenance end", Window: id})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, rep.Window) })
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	before, limit, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "audit", Before: before, Limit: limit})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, map[string]any{"audit": rep.Audit}) })
}

func (s *Server) status(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "status"})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, map[string]any{"message": rep.Message, "status": rep.Status}) })
}
