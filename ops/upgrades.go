package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/opsbot/opsbot/upgrade"
)

// Upgrader plans upgrades.
type Upgrader interface {
	NewPlan(ctx context.Context, inputs []string, actor string) (*upgrade.Plan, error)
	Plan(ctx context.Context, id int64) (*upgrade.Plan, error)
}

// Applier applies upgrade plans, node by node.
type Applier interface {
	Begin(ctx context.Context, plan int64, lockHash, by string) (*upgrade.Apply, error)
	Get(ctx context.Context, id int64) (*upgrade.Apply, error)
	Resume(ctx context.Context, id int64, by string) (*upgrade.Apply, error)
}

func upgradeCommands() map[string]command {
	return map[string]command{
		"upgrade plan":   {audit: "upgrade plan", perm: Operate, run: (*Service).upgradePlan},
		"upgrade show":   {audit: "upgrade show", perm: Read, run: (*Service).upgradeShow},
		"upgrade apply":  {audit: "upgrade apply", perm: Operate, run: (*Service).upgradeApply},
		"upgrade status": {audit: "upgrade status", perm: Read, run: (*Service).upgradeStatus},
		"upgrade resume": {audit: "upgrade resume", perm: Operate, run: (*Service).upgradeResume},
	}
}

// upgradeApply starts applying a plan; Rev is the plan's lock hash the
// person approving saw.
func (s *Service) upgradeApply(ctx context.Context, c *Caller, r *Request) Reply {
	if s.Applier == nil {
		return fail(NotConfigured, "applying upgrades is off: configure upgrade.nodes and kube")
	}
	a, err := s.Applier.Begin(ctx, r.Plan, r.Rev, c.Actor)
	if errors.Is(err, upgrade.ErrNoPlan) {
		return fail(NotFound, "upgrade plan %d does not exist", r.Plan)
	}
	if err != nil {
		return s.deployFailure("applying the upgrade", err)
	}
	return Reply{Kind: Created, Apply: a, Message: fmt.Sprintf("upgrade %d started: plan %d, %d nodes one at a time, to %s", a.ID, a.PlanID, len(a.Nodes), short(a.Rev))}
}

func (s *Service) upgradeStatus(ctx context.Context, _ *Caller, r *Request) Reply {
	if s.Applier == nil {
		return fail(NotConfigured, "applying upgrades is off: configure upgrade.nodes and kube")
	}
	a, err := s.Applier.Get(ctx, r.Run)
	if errors.Is(err, upgrade.ErrNoApply) {
		return fail(NotFound, "upgrade %d does not exist", r.Run)
	}
	if err != nil {
		return s.internal("upgrade", err)
	}
	return Reply{Apply: a, Message: a.Progress()}
}

func (s *Service) upgradePlan(ctx context.Context, c *Caller, r *Request) Reply {
	if s.Upgrades == nil {
		return fail(NotConfigured, "upgrades are off: configure repo.url and upgrade.hosts")
	}
	p, err := s.Upgrades.NewPlan(ctx, r.Inputs, c.Actor)
	if err != nil {
		return s.deployFailure("planning the upgrade", err)
	}
	return Reply{Kind: Created, Upgrade: p, Message: p.Summary()}
}

func (s *Service) upgradeShow(ctx context.Context, _ *Caller, r *Request) Reply {
	if s.Upgrades == nil {
		return fail(NotConfigured, "upgrades are off: configure repo.url and upgrade.hosts")
	}
	p, err := s.Upgrades.Plan(ctx, r.Plan)
	if errors.Is(err, upgrade.ErrNoPlan) {
		return fail(NotFound, "upgrade plan %d does not exist", r.Plan)
	}
	if err != nil {
		return s.internal("upgrade plan", err)
	}
	return Reply{Upgrade: p, Message: p.Summary()}
}

func (s *Service) upgradeResume(ctx context.Context, c *Caller, r *Request) Reply {
	if s.Applier == nil {
		return fail(NotConfigured, "applying upgrades is off: configure upgrade.nodes and kube")
	}
	a, err := s.Applier.Resume(ctx, r.Run, c.Actor)
	if errors.Is(err, upgrade.ErrNoApply) {
		return fail(NotFound, "upgrade %d does not exist", r.Run)
	}
	if err != nil {
		return s.deployFailure("resuming the upgrade", err)
	}
	return Reply{Kind: Created, Apply: a, Message: fmt.Sprintf("upgrade %d resumed at node %d of %d", a.ID, a.Node+1, len(a.Nodes))}
}
