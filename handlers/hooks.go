package handlers

import (
	"net/http"

	"github.com/opsbot/opsbot/handlers/alertmanager"
	"github.com/opsbot/opsbot/incidents"
)

func (s *Server) alertmanagerHook(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		s.Metrics.rejected("alertmanager", "too_large", 1)
		return
	}
	m, err := alertmanager.Decode(body)
	var evs []*incidents.Event
	if err == nil {
		evs, err = s.Alertmanager.Events(m)
	}
	if err != nil {
		s.Metrics.rejected("alertmanager", "invalid", 1)
		writeError(w, http.StatusBadRequest, "invalid Alertmanager webhook: "+err.Error())
		return
	}
	if !s.publish(w, r, evs, body) {
		return
	}
	if m.TruncatedAlerts > 0 {
		s.Log.Warn("alertmanager truncated a notification", "group_key", m.GroupKey, "truncated", m.TruncatedAlerts)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "stored", "events": len(evs)})
}
