package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/opsbot/opsbot/incidents"
)

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
