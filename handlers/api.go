package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

var stateFilters = map[string][]incidents.State{
	"open":         {incidents.Triggered, incidents.Acknowledged},
	"triggered":    {incidents.Triggered},
	"acknowledged": {incidents.Acknowledged},
	"resolved":     {incidents.Resolved},
	"all":          nil,
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	states, ok := stateFilters[state]
	if !ok {
		writeError(w, http.StatusBadRequest, "state: must be open, triggered, acknowledged, resolved or all, not "+strconv.Quote(state))
		return
	}
	f := incidents.Filter{States: states}
	var err error
	if f.Before, f.Limit, err = pageParams(q); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := s.Reader.ListIncidents(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) incidentID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not an incident id (a positive number, as in #42)", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// incident loads an incident, answering 404 or 500 itself if it cannot.
func (s *Server) incident(w http.ResponseWriter, r *http.Request, id int64) (*incidents.Incident, bool) {
	inc, err := s.Reader.Incident(r.Context(), id)
	if errors.Is(err, incidents.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return nil, false
	}
	if err != nil {
		s.internal(w, r, err)
		return nil, false
	}
	return inc, true
}

func (s *Server) getIncident(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
	if !ok {
		return
	}
	if inc, ok := s.incident(w, r, id); ok {
		writeJSON(w, http.StatusOK, inc)
	}
}

// CommandRequest is the optional body of POST /api/v1/incidents/{id}/{verb}.
type CommandRequest struct {
	// ID makes a retried request apply once; one is made up if empty.
	ID string `json:"id,omitempty"`
	// Actor is who acts; the token's name if empty.
	Actor string `json:"actor,omitempty"`
	// Text is the note, the comment or the snooze's reason.
	Text string `json:"text,omitempty"`
	// Duration of a snooze, such as "30m" or "2h".
	Duration string `json:"duration,omitempty"`
}

// CommandResponse answers a command.
type CommandResponse struct {
	Status   string              `json:"status"`
	EventID  string              `json:"event_id"`
	Outcome  string              `json:"outcome,omitempty"`
	Incident *incidents.Incident `json:"incident,omitempty"`
}

func (s *Server) incidentCommand(w http.ResponseWriter, r *http.Request) {
	id, ok := s.incidentID(w, r)
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
	if verb == incidents.SilenceAlerts || verb == incidents.Unsilence {
		s.silence(w, r, id, verb, req)
		return
	}
	c := &incidents.Command{ID: req.ID, IncidentID: id, Verb: verb, Actor: req.Actor, Origin: origin(r), Text: req.Text}
	if c.ID == "" {
		c.ID = s.NewID()
	}
	if c.Actor == "" {
		c.Actor = caller(r)
	}
	noteActor(r, c.Actor)
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("duration: %q is not a duration such as 30m or 2h", req.Duration))
			return
		}
		c.Duration = d
	}
	if err := c.Validate(s.Rules.MaxSnooze); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Refuse what the incident's state already rules out, before anything
	// is stored; the reducer checks again against the state it applies to.
	inc, ok := s.incident(w, r, id)
	if !ok {
		return
	}
	if err := c.Check(inc); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	s.apply(w, r, c)
}

// apply publishes a command and answers with what the reducer did.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, c *incidents.Command) {
	id := c.IncidentID
	env := incidents.Envelope{Command: c}
	result, cancel := s.Waiter.Expect(env.ID())
	defer cancel()
	ctx := r.Context()
	if err := s.Publisher.PublishCommand(ctx, c); err != nil {
		s.Log.Error("publish command failed", "incident", id, "verb", c.Verb, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "the event bus could not store the command; retry later")
		return
	}
	o, ok := s.await(ctx, env.ID(), result)
	if !ok {
		writeJSON(w, http.StatusAccepted, CommandResponse{Status: "stored", EventID: env.ID()})
		return
	}
	if o.Refusal != "" {
		writeError(w, http.StatusConflict, o.Refusal)
		return
	}
	inc, ok := s.incident(w, r, id)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, CommandResponse{Status: "applied", EventID: env.ID(), Outcome: o.Outcome, Incident: inc})
}

func isVerb(v incidents.Verb) bool {
	for _, k := range incidents.Verbs {
		if v == k {
			return true
		}
	}
	return false
}

func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error; the details are in opsbot's log")
}

func (s *Server) listNotices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := incidents.NoticeFilter{Source: q.Get("source")}
	if f.Source != "" && !incidents.ValidSource(f.Source) {
		writeError(w, http.StatusBadRequest, "source: not a source name")
		return
	}
	var err error
	if f.Before, f.Limit, err = pageParams(q); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	page, err := s.Reader.ListNotices(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// pageParams reads a listing's before (an id) and limit (1 to 500, 50 if
// not given).
func pageParams(q url.Values) (before int64, limit int, err error) {
	limit = 50
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return 0, 0, errors.New("before: must be a positive id")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return 0, 0, errors.New("limit: must be between 1 and 500")
		}
	}
	return before, limit, nil
}

func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	switch state {
	case "", "pending", "sent", "given_up":
	default:
		writeError(w, http.StatusBadRequest, "state: must be pending, sent or given_up")
		return
	}
	_, limit, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := s.Notifications(r.Context(), state, limit)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": list})
}
