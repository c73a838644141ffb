package handlers

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/silences"
)

// Silencer makes and expires silences in Alertmanager.
type Silencer interface {
	Silence(ctx context.Context, labels map[string]string, start, end time.Time, createdBy, comment string) (string, error)
	Expire(ctx context.Context, id string) error
}

// MaxSilence is the longest silence opsbot makes.
const MaxSilence = 30 * 24 * time.Hour

// silence serves POST /api/v1/incidents/{id}/silence and /unsilence: the
// silence is made (or expired) in Alertmanager first, then recorded on the
// incident through the reducer.
func (s *Server) silence(w http.ResponseWriter, r *http.Request, id int64, verb incidents.Verb, req CommandRequest) {
	if s.Silencer == nil {
		writeError(w, http.StatusNotImplemented, "no Alertmanager is configured (alertmanager.url) to silence alerts in")
		return
	}
	inc, ok := s.incident(w, r, id)
	if !ok {
		return
	}
	c := &incidents.Command{ID: req.ID, IncidentID: id, Verb: verb, Actor: req.Actor, Origin: origin(r)}
	if c.ID == "" {
		c.ID = s.NewID()
	}
	if c.Actor == "" {
		c.Actor = caller(r)
	}
	noteActor(r, c.Actor)
	ctx := r.Context()
	if verb == incidents.SilenceAlerts {
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 || d > MaxSilence {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("duration: %q is not a duration from 1s to %s, such as 2h", req.Duration, MaxSilence))
			return
		}
		c.Duration, c.Text = d, "pending"
		if err := c.Check(inc); err != nil {
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		labels, err := silences.Matchers(inc)
		if err != nil {
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		comment := req.Text
		if comment == "" {
			comment = fmt.Sprintf("opsbot incident #%d: %s", inc.ID, inc.Title)
		}
		now := time.Now()
		if c.Text, err = s.Silencer.Silence(ctx, labels, now, now.Add(d), c.Actor, comment); err != nil {
			s.Log.Error("silence", "incident", id, "err", err)
			writeError(w, http.StatusBadGateway, "Alertmanager did not make the silence: "+err.Error())
			return
		}
	} else {
		if err := c.Check(inc); err != nil {
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		if err := s.Silencer.Expire(ctx, inc.SilenceID); err != nil {
			s.Log.Error("unsilence", "incident", id, "err", err)
			writeError(w, http.StatusBadGateway, "Alertmanager did not expire the silence: "+err.Error())
			return
		}
	}
	s.apply(w, r, c)
}
