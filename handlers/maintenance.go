package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// Windows keeps maintenance windows.
type Windows interface {
	CreateWindow(ctx context.Context, w *incidents.Window) error
	Windows(ctx context.Context, since time.Time) ([]incidents.Window, error)
	EndWindow(ctx context.Context, id int64, at time.Time) (incidents.Window, error)
}

// WindowRequest is the body of POST /api/v1/maintenance.
type WindowRequest struct {
	Matchers []string `json:"matchers"`
	Duration string   `json:"duration"`
	Comment  string   `json:"comment,omitempty"`
	Actor    string   `json:"actor,omitempty"`
}

// MaxWindow is the longest maintenance window.
const MaxWindow = 7 * 24 * time.Hour

func (s *Server) createWindow(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req WindowRequest
	if err := decodeJSON(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil || d <= 0 || d > MaxWindow {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("duration: %q is not a duration from 1s to %s, such as 2h", req.Duration, MaxWindow))
		return
	}
	if len(req.Comment) > incidents.MaxTextLen || len(req.Matchers) > 32 {
		writeError(w, http.StatusBadRequest, "comment or matchers: too long")
		return
	}
	actor := req.Actor
	if actor == "" {
		actor = caller(r)
	}
	noteActor(r, actor)
	if info, ok := r.Context().Value(auditKey{}).(*auditInfo); ok {
		info.target = strings.Join(req.Matchers, " ")
	}
	now := time.Now().UTC()
	win := &incidents.Window{Matchers: req.Matchers, Comment: req.Comment, CreatedBy: actor, StartsAt: now, EndsAt: now.Add(d)}
	if err := s.Windows.CreateWindow(r.Context(), win); err != nil {
		var ie *incidents.InvalidError
		if errors.As(err, &ie) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.internal(w, r, err)
		return
	}
	s.Log.Info("maintenance window started", "id", win.ID, "matchers", win.Matchers, "until", win.EndsAt, "by", actor)
	writeJSON(w, http.StatusCreated, win)
}

func (s *Server) listWindows(w http.ResponseWriter, r *http.Request) {
	since := time.Now()
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, "since: a duration such as 24h (windows that ended since)")
			return
		}
		since = since.Add(-d)
	}
	list, err := s.Windows.Windows(r.Context(), since)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"windows": list})
}

func (s *Server) endWindow(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "not a maintenance window id")
		return
	}
	win, err := s.Windows.EndWindow(r.Context(), id, time.Now())
	if errors.Is(err, incidents.ErrNoWindow) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("maintenance window #%d does not exist", id))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, win)
}
