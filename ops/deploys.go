package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opsbot/opsbot/deploy"
)

// Deployer plans, approves and runs deploys.
type Deployer interface {
	NewPlan(ctx context.Context, kind, target, rev, actor string) (*deploy.Plan, error)
	Approve(ctx context.Context, id int64, approver, origin string, force bool) (*deploy.Run, error)
	Runs(ctx context.Context, target string, limit int) ([]deploy.Run, error)
	Follow(ctx context.Context, id int64) (*deploy.Run, <-chan struct{}, error)
}

func deployCommands() map[string]command {
	return map[string]command{
		"deploy":     {audit: "deploy plan", perm: Operate, run: (*Service).plan},
		"rollback":   {audit: "rollback plan", perm: Operate, run: (*Service).plan},
		"approve":    {audit: "deploy approve", perm: Operate, run: (*Service).approve},
		"deploys":    {audit: "deploys", perm: Read, run: (*Service).runs},
		"deploy log": {audit: "deploy log", perm: Read, run: (*Service).runLog},
	}
}

// deployFailure turns the deployer's errors into replies.
func (s *Service) deployFailure(what string, err error) Reply {
	var (
		ref  *deploy.Refusal
		busy *deploy.BusyError
	)
	switch {
	case errors.As(err, &ref), errors.As(err, &busy):
		return fail(Conflict, "%s", err)
	case errors.Is(err, deploy.ErrNoPlan), errors.Is(err, deploy.ErrNoRun):
		return fail(NotFound, "%s", err)
	}
	s.Log.Error(what, "err", err)
	return fail(Upstream, "%s failed: %s", what, clip(err.Error(), 300))
}

func (s *Service) plan(ctx context.Context, c *Caller, r *Request) Reply {
	if s.Deploys == nil {
		return fail(NotConfigured, "deploys are off: configure repo.url and deploy.targets")
	}
	p, err := s.Deploys.NewPlan(ctx, r.Command, r.Target, r.Rev, c.Actor)
	if err != nil {
		return s.deployFailure("planning", err)
	}
	msg := fmt.Sprintf("plan %d: %s %s from %s to %s", p.ID, p.Kind, p.Target, orNone(p.From), short(p.To))
	if p.Rewritten {
		msg += "; the branch history was rewritten (force-pushed): approving needs force"
	}
	return Reply{Kind: Created, Plan: p, Message: msg}
}

func (s *Service) approve(ctx context.Context, c *Caller, r *Request) Reply {
	if s.Deploys == nil {
		return fail(NotConfigured, "deploys are off: configure repo.url and deploy.targets")
	}
	run, err := s.Deploys.Approve(ctx, r.Plan, c.Actor, c.Origin, r.Force)
	if err != nil {
		return s.deployFailure("approving", err)
	}
	return Reply{Kind: Created, Run: run, Message: fmt.Sprintf("run #%d: %s of %s to %s started", run.ID, run.Kind, run.Target, short(run.To))}
}

func (s *Service) runs(ctx context.Context, _ *Caller, r *Request) Reply {
	if s.Deploys == nil {
		return fail(NotConfigured, "deploys are off: configure repo.url and deploy.targets")
	}
	limit := r.Limit
	if limit == 0 {
		limit = 20
	}
	runs, err := s.Deploys.Runs(ctx, r.Target, limit)
	if err != nil {
		return s.deployFailure("listing runs", err)
	}
	return Reply{Runs: runs, Message: fmt.Sprintf("%d runs", len(runs))}
}

func (s *Service) runLog(ctx context.Context, _ *Caller, r *Request) Reply {
	if s.Deploys == nil {
		return fail(NotConfigured, "deploys are off: configure repo.url and deploy.targets")
	}
	run, _, err := s.Deploys.Follow(ctx, r.Run)
	if err != nil {
		return s.deployFailure("reading the run", err)
	}
	return Reply{Run: run, Message: fmt.Sprintf("run #%d: %s of %s to %s: %s", run.ID, run.Kind, run.Target, short(run.To), orState(run))}
}

func orState(r *deploy.Run) string {
	if r.Outcome != "" {
		return r.State + ", " + r.Outcome
	}
	return r.State + ", " + r.Phase
}

func orNone(rev string) string {
	if rev == "" {
		return "nothing deployed by opsbot yet"
	}
	return short(rev)
}

func short(rev string) string { return rev[:min(len(rev), 12)] }

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return strings.TrimSpace(s)
}
