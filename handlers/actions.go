package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/opsbot/opsbot/actiontoken"
	"github.com/opsbot/opsbot/incidents"
)

// ActionVerifier checks the token of a notification button.
type ActionVerifier interface {
	Verify(token string) (actiontoken.Claim, error)
}

// SnoozeFromButton is how long a button's snooze lasts.
const SnoozeFromButton = time.Hour

// action serves POST /actions/{token}: a notification's button, pressed on
// a phone. The token is the credential: signed, short-lived, single use.
func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	noteActor(r, "notification button")
	claim, err := s.Actions.Verify(r.PathValue("token"))
	switch {
	case errors.Is(err, actiontoken.ErrExpired):
		writeError(w, http.StatusGone, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusForbidden, err.Error())
		return
	}
	if info, ok := r.Context().Value(auditKey{}).(*auditInfo); ok {
		info.target = fmt.Sprintf("#%d %s", claim.IncidentID, claim.Verb)
	}
	c := &incidents.Command{
		ID: "button-" + claim.Nonce, IncidentID: claim.IncidentID, Verb: claim.Verb,
		Actor: "notification button", Origin: "ntfy action from " + r.RemoteAddr,
	}
	if c.Verb == incidents.Snooze {
		c.Duration = SnoozeFromButton
	}
	env := incidents.Envelope{Command: c}
	if _, used, err := s.Reader.Outcome(r.Context(), env.ID()); err != nil {
		s.internal(w, r, err)
		return
	} else if used {
		writeError(w, http.StatusConflict, "this button was already used")
		return
	}
	if err := c.Validate(s.Rules.MaxSnooze); err != nil {
		writeError(w, http.StatusForbidden, actiontoken.ErrInvalid.Error())
		return
	}
	inc, ok := s.incident(w, r, c.IncidentID)
	if !ok {
		return
	}
	if err := c.Check(inc); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	result, cancel := s.Waiter.Expect(env.ID())
	defer cancel()
	if err := s.Publisher.PublishCommand(r.Context(), c); err != nil {
		s.Log.Error("publish command failed", "incident", c.IncidentID, "verb", c.Verb, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the event bus could not store the action; retry later")
		return
	}
	o, ok := s.await(r.Context(), env.ID(), result)
	switch {
	case !ok:
		writeJSON(w, http.StatusAccepted, CommandResponse{Status: "stored", EventID: env.ID()})
	case o.Duplicate:
		writeError(w, http.StatusConflict, "this button was already used")
	case o.Refusal != "":
		writeError(w, http.StatusConflict, o.Refusal)
	default:
		writeJSON(w, http.StatusOK, CommandResponse{Status: "applied", EventID: env.ID(), Outcome: fmt.Sprintf("incident #%d %s", c.IncidentID, o.Outcome)})
	}
}
