package upgrade

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/opsbot/opsbot/deploy"
)

// ErrNoPlan is returned for a plan that does not exist.
var ErrNoPlan = errors.New("no such upgrade plan")

// States of a plan.
const (
	Planning = "planning"
	Ready    = "ready"
	Failed   = "failed"
)

// Store keeps plans.
type Store interface {
	CreateUpgradePlan(ctx context.Context, p *Plan) error
	UpdateUpgradePlan(ctx context.Context, p *Plan) error
	UpgradePlan(ctx context.Context, id int64) (*Plan, error)
	// FailUnfinishedUpgradePlans marks plans left planning by a stop.
	FailUnfinishedUpgradePlans(ctx context.Context, why string) error
}

// Service makes plans in the background, one at a time (they build
// systems), and keeps them.
type Service struct {
	Planner *Planner
	Store   Store
	Log     *slog.Logger

	mu     sync.Mutex
	busy   bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// Start readies the service; plans a stop left unfinished are failed.
func (s *Service) Start(ctx context.Context) error {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s.Store.FailUnfinishedUpgradePlans(ctx, "opsbot stopped while the plan was being made")
}

// Stop stops the plan being made and waits for it.
func (s *Service) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// NewPlan starts planning an upgrade and returns the plan, planning; Plan
// shows it when it is ready.
func (s *Service) NewPlan(ctx context.Context, inputs []string, actor string) (*Plan, error) {
	for _, in := range inputs {
		if !inputRE.MatchString(in) {
			return nil, &deploy.Refusal{Msg: fmt.Sprintf("%q is not a flake input name", clip(in, 40))}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy {
		return nil, &deploy.Refusal{Msg: "an upgrade plan is being made already; try again when it is done"}
	}
	p := &Plan{CreatedAt: s.Planner.Now().UTC(), State: Planning, Requested: inputs, RequestedBy: actor}
	if err := s.Store.CreateUpgradePlan(ctx, p); err != nil {
		return nil, err
	}
	s.busy = true
	out := *p // the caller's copy: make changes p
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.make(p)
	}()
	return &out, nil
}

// MakeNow makes a plan of every input and returns it when it is made
// (ready or failed), for a scheduled report.
func (s *Service) MakeNow(ctx context.Context, actor string) (*Plan, error) {
	s.mu.Lock()
	if s.busy {
		s.mu.Unlock()
		return nil, &deploy.Refusal{Msg: "an upgrade plan is being made already"}
	}
	p := &Plan{CreatedAt: s.Planner.Now().UTC(), State: Planning, RequestedBy: actor}
	if err := s.Store.CreateUpgradePlan(ctx, p); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.busy = true
	s.mu.Unlock()
	return s.make(p), nil
}

// make makes a plan and stores what came of it.
func (s *Service) make(p *Plan) *Plan {
	defer func() { s.mu.Lock(); s.busy = false; s.mu.Unlock() }()
	made, err := s.Planner.NewPlan(s.ctx, p.Requested, p.RequestedBy)
	if err != nil {
		p.State, p.Error = Failed, err.Error()
		s.Log.Warn("upgrade: plan failed", "plan", p.ID, "err", err)
	} else {
		made.ID, made.CreatedAt, made.State = p.ID, p.CreatedAt, Ready
		p = made
		s.Log.Info("upgrade: plan ready", "plan", p.ID, "summary", p.Summary())
	}
	if err := s.Store.UpdateUpgradePlan(context.WithoutCancel(s.ctx), p); err != nil {
		s.Log.Error("upgrade: store the plan", "plan", p.ID, "err", err)
	}
	return p
}

// Plan returns a stored plan.
func (s *Service) Plan(ctx context.Context, id int64) (*Plan, error) {
	return s.Store.UpgradePlan(ctx, id)
}

// Summary says in a line what the plan would do.
func (p *Plan) Summary() string {
	switch p.State {
	case Planning:
		return fmt.Sprintf("upgrade plan %d is being made: nix flake update, then the hosts' systems built and compared", p.ID)
	case Failed:
		return fmt.Sprintf("upgrade plan %d failed: %s", p.ID, p.Error)
	}
	if len(p.Inputs) == 0 {
		return fmt.Sprintf("upgrade plan %d: every input is up to date", p.ID)
	}
	var hosts []string
	for _, h := range p.Hosts {
		switch {
		case h.Error != "":
			hosts = append(hosts, h.Host+": not planned")
		default:
			hosts = append(hosts, h.Host+": "+h.Impact.short())
		}
	}
	return fmt.Sprintf("upgrade plan %d: %d inputs updated (%s); %s", p.ID, len(p.Inputs), strings.Join(names(p.Inputs), ", "), strings.Join(hosts, "; "))
}

func (i Impact) short() string {
	switch {
	case i.Reboot:
		return "reboot"
	case i.K3sRestart:
		return "k3s restart"
	case len(i.Services) > 0:
		return fmt.Sprintf("%d services restart", len(i.Services))
	case len(i.Packages) > 0:
		return fmt.Sprintf("%d packages", len(i.Packages))
	}
	return "nothing"
}

// Report is the plan in full, as text.
func (p *Plan) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Upgrade plan %d, %s, from %s (flake.lock %s)\n", p.ID, p.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), short(p.Head), short(p.LockHash))
	if p.Commit != "" {
		fmt.Fprintf(&b, "The new flake.lock is on branch %s at %s.\n", p.Branch, short(p.Commit))
	}
	b.WriteString("\nInputs\n")
	if len(p.Inputs) == 0 {
		b.WriteString("  every input is up to date\n")
	}
	for _, in := range p.Inputs {
		fmt.Fprintf(&b, "  %s: %s (%s) → %s (%s), %s newer\n", in.Name, short(in.OldRev), day(in.OldDate), short(in.NewRev), day(in.NewDate), age(in.NewDate.Sub(in.OldDate)))
	}
	for _, h := range p.Hosts {
		fmt.Fprintf(&b, "\n%s: ", h.Host)
		if h.Error != "" {
			fmt.Fprintf(&b, "not planned: %s\n", h.Error)
			continue
		}
		fmt.Fprintf(&b, "%s\n", h.Impact.Summary())
		if len(h.Impact.Why) > 0 {
			fmt.Fprintf(&b, "  because: %s\n", strings.Join(h.Impact.Why, "; "))
		}
		for _, c := range h.Changes {
			line := "  " + c.Name + ": "
			if c.From != "" {
				line += c.From + " → " + c.To
				if c.Size != "" {
					line += ", "
				}
			}
			b.WriteString(line + c.Size + "\n")
		}
	}
	return b.String()
}

func short(s string) string { return s[:min(len(s), 12)] }

func day(t time.Time) string {
	if t.IsZero() || t.Unix() == 0 {
		return "?"
	}
	return t.UTC().Format("2006-01-02")
}

func age(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	case d < 0:
		return "not"
	}
	return "less than an hour"
}
