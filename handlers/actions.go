package handlers

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/opsbot/opsbot/actiontoken"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/ops"
)

// ActionVerifier checks the token of a notification button.
type ActionVerifier interface {
	Verify(token string) (actiontoken.Claim, error)
}

// action serves POST /actions/{token}: a notification's button, pressed on
// a phone. The token is the credential: signed, short-lived, single use,
// and good for the one command it names.
func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	c := ops.Caller{Actor: "notification button", Via: "button", Origin: "ntfy action from " + r.RemoteAddr, Perm: ops.Respond}
	claim, err := s.Actions.Verify(r.PathValue("token"))
	if err != nil {
		rep := ops.Reply{Kind: ops.Forbidden, Message: err.Error()}
		if errors.Is(err, actiontoken.ErrExpired) {
			rep.Kind = ops.Gone
		}
		s.Ops.Record(r.Context(), c, "button", "", rep)
		writeError(w, rep.Kind.HTTPStatus(), rep.Message)
		return
	}
	req := ops.Request{Command: string(claim.Verb), ID: "button-" + claim.Nonce, Incident: claim.IncidentID, Once: true}
	switch claim.Verb {
	case incidents.Ack, incidents.Close:
	case incidents.Snooze:
		req.Duration = ops.SnoozeFromButton.String()
	default:
		writeError(w, http.StatusForbidden, actiontoken.ErrInvalid.Error())
		return
	}
	rep := s.Ops.Do(r.Context(), c, req)
	reply(w, rep, func() {
		if rep.Kind == ops.Stored {
			commandResponse(w, rep)
			return
		}
		writeJSON(w, http.StatusOK, CommandResponse{Status: "applied", EventID: rep.EventID, Outcome: fmt.Sprintf("incident #%d %s", claim.IncidentID, rep.Outcome)})
	})
}
