package handlers

import (
	"net/http"
	"strconv"

	"github.com/opsbot/opsbot/incidents"
)

// postEvent takes one normalized event (docs/events.md). With ?wait=true it
// answers with what the reducer did, once it has.
func (s *Server) postEvent(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		s.Metrics.rejected("api", "too_large", 1)
		return
	}
	var ev incidents.Event
	err := decodeJSON(body, &ev)
	if err == nil {
		if ev.ID == "" {
			ev.ID = s.NewID()
		}
		err = ev.Validate(s.DefaultSeverity)
	}
	if err != nil {
		s.Metrics.rejected("api", "invalid", 1)
		writeError(w, http.StatusBadRequest, "invalid event: "+err.Error())
		return
	}
	wait, _ := strconv.ParseBool(r.URL.Query().Get("wait"))
	env := incidents.Envelope{Event: &ev}
	var (
		result <-chan incidents.Outcome
		cancel = func() {}
	)
	if wait {
		result, cancel = s.Waiter.Expect(env.ID())
	}
	defer cancel()
	if !s.publish(w, r, []*incidents.Event{&ev}, "", nil, "") {
		return
	}
	resp := map[string]any{"status": "stored", "id": ev.ID}
	if wait {
		if o, ok := s.Ops.Await(r.Context(), env.ID(), result); ok {
			resp["status"], resp["outcome"], resp["incident_id"] = "applied", o.Outcome, o.IncidentID
		}
	}
	writeJSON(w, http.StatusAccepted, resp)
}
