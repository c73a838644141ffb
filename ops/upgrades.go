package ops

import (
	"context"
	"errors"

	"github.com/opsbot/opsbot/upgrade"
)

// Upgrader plans upgrades.
type Upgrader interface {
	NewPlan(ctx context.Context, inputs []string, actor string) (*upgrade.Plan, error)
	Plan(ctx context.Context, id int64) (*upgrade.Plan, error)
}

func upgradeCommands() map[string]command {
	return map[string]command{
		"upgrade plan": {audit: "upgrade plan", perm: Operate, run: (*Service).upgradePlan},
		"upgrade show": {audit: "upgrade show", perm: Read, run: (*Service).upgradeShow},
	}
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
