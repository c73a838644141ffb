package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// Auditor keeps the audit log.
type Auditor interface {
	RecordAudit(ctx context.Context, e incidents.AuditEntry) error
	Audit(ctx context.Context, before int64, limit int) ([]incidents.AuditEntry, error)
}

// auditInfo is filled in by the handlers under an audited route.
type auditInfo struct{ actor, target string }

type auditKey struct{}

// noteActor tells the audit log who acted, when the request names someone.
func noteActor(r *http.Request, actor string) {
	if info, ok := r.Context().Value(auditKey{}).(*auditInfo); ok && actor != "" {
		info.actor = actor
	}
}

// recorder keeps the status and the start of the body of an answer.
type recorder struct {
	http.ResponseWriter
	code int
	body bytes.Buffer
}

func (r *recorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.body.Len() < 4096 {
		r.body.Write(b[:min(len(b), 4096-r.body.Len())])
	}
	return r.ResponseWriter.Write(b)
}

// audited records every request of a route in the audit log, allowed or
// refused, with who, how, what and the result.
func (s *Server) audited(via, command string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Audit == nil {
			next(w, r)
			return
		}
		info := &auditInfo{}
		r = r.WithContext(context.WithValue(r.Context(), auditKey{}, info))
		rec := &recorder{ResponseWriter: w, code: http.StatusOK}
		next(rec, r)
		cmd := strings.NewReplacer("{verb}", r.PathValue("verb")).Replace(command)
		target := info.target
		if target == "" && r.PathValue("id") != "" {
			target = "#" + r.PathValue("id")
		}
		actor := info.actor
		if actor == "" {
			actor = "unknown (no valid token)"
		}
		var answer struct {
			Error   string `json:"error"`
			Outcome string `json:"outcome"`
		}
		json.Unmarshal(rec.body.Bytes(), &answer)
		result := fmt.Sprintf("%d", rec.code)
		if msg := answer.Error + answer.Outcome; msg != "" {
			result += " " + msg
		}
		e := incidents.AuditEntry{At: time.Now().UTC(), Actor: actor, Via: via, Command: cmd, Target: target,
			Allowed: rec.code != http.StatusUnauthorized && rec.code != http.StatusForbidden, Result: result}
		if err := s.Audit.RecordAudit(context.WithoutCancel(r.Context()), e); err != nil {
			s.Log.Error("audit log", "err", err)
		}
	}
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	before, limit, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	list, err := s.Audit.Audit(r.Context(), before, limit)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": list})
}
