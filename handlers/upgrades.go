package handlers

import (
	"net/http"
	"strconv"

	"github.com/opsbot/opsbot/ops"
)

// UpgradePlanRequest is the body of POST /api/v1/upgrades/plans.
type UpgradePlanRequest struct {
	// Inputs to update; none: all.
	Inputs []string `json:"inputs,omitempty"`
	Actor  string   `json:"actor,omitempty"`
}

func (s *Server) createUpgradePlan(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req UpgradePlanRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	actingFor(r, &c, req.Actor)
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "upgrade plan", Inputs: req.Inputs})
	// 202: the plan is being made; GET it until it is ready.
	reply(w, rep, func() { writeJSON(w, http.StatusAccepted, rep.Upgrade) })
}

func (s *Server) getUpgradePlan(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "not an upgrade plan id")
		return
	}
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "upgrade show", Plan: id})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, rep.Upgrade) })
}

func (s *Server) startReport(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	actingFor(r, &c, "")
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "report now"})
	reply(w, rep, func() { writeJSON(w, http.StatusAccepted, rep.Report) })
}

func (s *Server) listReports(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	_, limit, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "reports", Limit: limit})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, map[string]any{"reports": rep.ReportList}) })
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "not a report id")
		return
	}
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "report show", Run: id})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, rep.Report) })
}

// ApplyRequest is the body of POST /api/v1/upgrades/plans/{id}/apply.
type ApplyRequest struct {
	// LockHash is the plan's flake.lock hash (12 or more characters), as
	// seen by whoever approves: a plan that differs is not applied.
	LockHash string `json:"lock_hash"`
	Actor    string `json:"actor,omitempty"`
}

func (s *Server) applyUpgrade(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "not an upgrade plan id")
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req ApplyRequest
	if err := decodeJSON(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	actingFor(r, &c, req.Actor)
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "upgrade apply", Plan: id, Rev: req.LockHash})
	reply(w, rep, func() { writeJSON(w, http.StatusAccepted, rep.Apply) })
}

func (s *Server) getUpgrade(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "not an upgrade id")
		return
	}
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "upgrade status", Run: id})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, rep.Apply) })
}

func (s *Server) resumeUpgrade(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "not an upgrade id")
		return
	}
	actingFor(r, &c, "")
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "upgrade resume", Run: id})
	reply(w, rep, func() { writeJSON(w, http.StatusAccepted, rep.Apply) })
}
