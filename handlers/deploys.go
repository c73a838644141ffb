package handlers

import (
	"net/http"
	"strconv"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/ops"
)

// PlanRequest is the body of POST /api/v1/deploys.
type PlanRequest struct {
	// Kind is deploy (the default) or rollback.
	Kind   string `json:"kind,omitempty"`
	Target string `json:"target"`
	// Rev is a commit id or tag; empty: the branch head (a rollback: the
	// previous successful revision).
	Rev   string `json:"rev,omitempty"`
	Actor string `json:"actor,omitempty"`
}

// ApproveRequest is the optional body of POST /api/v1/deploys/plans/{id}/approve.
type ApproveRequest struct {
	// Force approves a plan of a rewritten (force-pushed) history.
	Force bool   `json:"force,omitempty"`
	Actor string `json:"actor,omitempty"`
}

func (s *Server) createPlan(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req PlanRequest
	if err := decodeJSON(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch req.Kind {
	case "":
		req.Kind = deploy.KindDeploy
	case deploy.KindDeploy, deploy.KindRollback:
	default:
		writeError(w, http.StatusBadRequest, "kind: deploy or rollback")
		return
	}
	actingFor(r, &c, req.Actor)
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: req.Kind, Target: req.Target, Rev: req.Rev})
	reply(w, rep, func() { writeJSON(w, http.StatusCreated, rep.Plan) })
}

func (s *Server) approvePlan(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "not a plan id")
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req ApproveRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	actingFor(r, &c, req.Actor)
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "approve", Plan: id, Force: req.Force})
	reply(w, rep, func() { writeJSON(w, http.StatusCreated, rep.Run) })
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	_, limit, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "deploys", Target: r.URL.Query().Get("target"), Limit: limit})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, map[string]any{"runs": rep.Runs}) })
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, c ops.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "not a run id")
		return
	}
	rep := s.Ops.Do(r.Context(), c, ops.Request{Command: "deploy log", Run: id})
	reply(w, rep, func() { writeJSON(w, http.StatusOK, rep.Run) })
}
