// Package deploy runs deploys and rollbacks of the targets of the
// declarative repo: a plan (target, from and to revision, the commits
// between) that a person approves, one run at a time per target, the
// driver's argument vector run without a shell, its output kept (scrubbed,
// capped) and followed, a health gate after it, and a rollback by itself
// when the gate fails.
package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// Kinds of plans and runs.
const (
	KindDeploy       = "deploy"
	KindRollback     = "rollback"
	KindAutoRollback = "auto-rollback"
)

// Modes of a rollback run: the driver's rollback command, or a revert
// commit pushed to the branch (GitOps) and then deployed.
const (
	ModeRollbackCommand = "rollback-command"
	ModeRevert          = "revert"
)

// States of a run.
const (
	Running     = "running"
	Succeeded   = "succeeded"
	Failed      = "failed"
	RolledBack  = "rolled_back"
	Interrupted = "interrupted"
)

// Target is what can be deployed: a host or a set of them, with its driver.
type Target struct {
	Name string
	// Host fills {host}; the target's name if empty.
	Host   string
	SSH    string
	Driver Driver
	// Labels name the target's alerts and incidents (host=web): its
	// maintenance window during a run holds their notifications, and
	// their timelines note the run.
	Labels  map[string]string
	Gate    Gate
	Timeout time.Duration
	// AutoRollback rolls back a deploy whose gate fails.
	AutoRollback bool
	// SecondApproval: the approval must come from someone other than who
	// asked.
	SecondApproval bool
	// Revert: a rollback commits a revert to the branch, pushes it and
	// deploys that (for GitOps targets, whose cluster follows the branch).
	Revert bool
}

// Gate is what a deploy must pass afterwards, for Duration.
type Gate struct {
	Duration, Interval time.Duration
	// AlertMatchers select the target's alerts in Alertmanager
	// (host="web", or host=~"web.*"); one firing that started after the
	// deploy began fails the gate.
	AlertMatchers []string
	// HTTP are URLs that must answer 2xx.
	HTTP []string
	// Nodes are Kubernetes nodes that must be Ready.
	Nodes []string
}

// Plan is a deploy or rollback waiting for approval.
type Plan struct {
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Requested is the revision asked for; empty: the branch head (a
	// rollback: the previous successful revision).
	Requested string   `json:"requested"`
	From      string   `json:"from"`
	To        string   `json:"to"`
	Commits   []string `json:"commits"`
	// Rewritten: the branch was force-pushed since opsbot last saw it;
	// approving needs force.
	Rewritten bool `json:"rewritten,omitempty"`
	// Targets are a group's targets, deployed one after the other; Target
	// is then the group's name.
	Targets        []string  `json:"targets,omitempty"`
	SecondApproval bool      `json:"second_approval,omitempty"`
	RequestedBy    string    `json:"requested_by"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiresAt      time.Time `json:"expires_at"`
	ApprovedBy     string    `json:"approved_by,omitempty"`
	RunID          int64     `json:"run_id,omitempty"`
}

// Run is one deploy or rollback of a target.
type Run struct {
	ID         int64      `json:"id"`
	PlanID     int64      `json:"plan_id,omitempty"`
	Kind       string     `json:"kind"`
	Target     string     `json:"target"`
	Driver     string     `json:"driver"`
	From       string     `json:"from"`
	To         string     `json:"to"`
	Actor      string     `json:"actor"`
	Origin     string     `json:"origin"`
	ApprovedBy string     `json:"approved_by,omitempty"`
	State      string     `json:"state"`
	Phase      string     `json:"phase"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	ExitStatus *int       `json:"exit_status,omitempty"`
	Outcome    string     `json:"outcome,omitempty"`
	Output     string     `json:"output,omitempty"`
	ParentID   int64      `json:"parent_id,omitempty"`
	// Group is the group whose deploy the run is part of.
	Group string `json:"group,omitempty"`
	// Mode is ModeRollbackCommand when the driver's rollback command (the
	// previous NixOS generation) is run instead of a deploy of To.
	Mode string `json:"mode,omitempty"`
	// ChatRef is the chat message that follows the run.
	ChatRef string `json:"-"`
}

// BusyError says who holds a target's lock.
type BusyError struct{ Holder Run }

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s is busy: run #%d (%s to %s) by %s since %s", e.Holder.Target, e.Holder.ID, e.Holder.Kind,
		short(e.Holder.To), e.Holder.Actor, e.Holder.StartedAt.UTC().Format("15:04:05 UTC"))
}

// ErrNoPlan and ErrNoRun are returned for ids that do not exist.
var (
	ErrNoPlan = errors.New("no such plan")
	ErrNoRun  = errors.New("no such run")
)

// Store keeps plans and runs. StartRun takes the target's lock (and the
// global one, if global) or returns a *BusyError.
type Store interface {
	CreatePlan(ctx context.Context, p *Plan) error
	Plan(ctx context.Context, id int64) (*Plan, error)
	StartRun(ctx context.Context, r *Run, global bool) error
	UpdateRun(ctx context.Context, r *Run) error
	Run(ctx context.Context, id int64) (*Run, error)
	Runs(ctx context.Context, target string, limit int) ([]Run, error)
	// Deployed is the revision of the target's last successful run
	// before run id (0: of all), "" if none.
	Deployed(ctx context.Context, target string, before int64) (string, error)
	InterruptRuns(ctx context.Context, at time.Time, why string) ([]Run, error)
	SetRunChatRef(ctx context.Context, id int64, ref string) error
}

// Alerts finds the firing alerts matching matchers that started after
// since, as one line each.
type Alerts interface {
	Firing(ctx context.Context, matchers []string, since time.Time) ([]string, error)
}

// Windows holds a target's notifications during its run.
type Windows interface {
	CreateWindow(ctx context.Context, w *incidents.Window) error
	EndWindow(ctx context.Context, id int64, at time.Time) (incidents.Window, error)
}

// Service plans, approves and runs deploys.
type Service struct {
	Repo    *Repo
	Targets map[string]*Target
	// Groups are named lists of targets, deployed one after the other,
	// each after the previous one passed its gate.
	Groups map[string][]string
	// FlakeTargets, if set, is the template of the targets read from the
	// flake's nixosConfigurations: each name becomes a target like it,
	// with {host} in SSH and in label values replaced by the name.
	FlakeTargets *Target
	Store        Store
	// Alerts, Windows and Note are optional.
	Alerts  Alerts
	Windows Windows
	// Note tells the open incidents with labels about a run.
	Note func(ctx context.Context, labels map[string]string, text string)
	HTTP *http.Client
	// Kube is the cluster of the Argo CD and Flux drivers and of the
	// node gate; nil: none.
	Kube       *Kube
	WorkDir    string
	Scrub      *Scrubber
	GlobalLock bool
	PlanTTL    time.Duration
	// OutputLimit caps the output kept of a run, in bytes.
	OutputLimit int
	Log         *slog.Logger
	Now         func() time.Time

	mu     sync.Mutex
	live   map[int64]*live
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// Start readies the service: runs left running by a crash are marked
// interrupted (their locks released) and returned, to be told.
func (s *Service) Start(ctx context.Context) ([]Run, error) {
	s.live = map[int64]*live{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s.Store.InterruptRuns(ctx, s.Now(), "interrupted: opsbot stopped during the run")
}

// Stop interrupts the runs in progress and waits for them to end.
func (s *Service) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *Service) target(ctx context.Context, name string) (*Target, error) {
	s.mu.Lock()
	t, ok := s.Targets[name]
	s.mu.Unlock()
	if !ok && s.FlakeTargets != nil && hostRE.MatchString(name) {
		// Perhaps a host added to the flake since.
		if err := s.LoadFlakeTargets(ctx); err != nil {
			return nil, err
		}
		s.mu.Lock()
		t, ok = s.Targets[name]
		s.mu.Unlock()
	}
	if !ok {
		s.mu.Lock()
		names := make([]string, 0, len(s.Targets))
		for n := range s.Targets {
			names = append(names, n)
		}
		s.mu.Unlock()
		return nil, refuse("there is no target %q (targets: %s)", clip(name, 40), joinSorted(names))
	}
	return t, nil
}

// LoadFlakeTargets reads the names of the flake's nixosConfigurations at
// the branch head (nix eval) and adds a target like FlakeTargets for each
// one not configured already.
func (s *Service) LoadFlakeTargets(ctx context.Context) error {
	head, _, err := s.Repo.Fetch(ctx)
	if err != nil {
		return err
	}
	dir := filepath.Join(s.WorkDir, "flake-"+short(head))
	remove, err := s.Repo.Checkout(ctx, head, dir)
	if err != nil {
		return err
	}
	defer remove()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nix", "eval", "--json", dir+"#nixosConfigurations", "--apply", "builtins.attrNames")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("nix eval of the flake's nixosConfigurations: %v: %s", err, clip(strings.TrimSpace(stderr.String()), 300))
	}
	var names []string
	if err := json.Unmarshal(out, &names); err != nil {
		return fmt.Errorf("nix eval of the flake's nixosConfigurations: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		if _, ok := s.Targets[n]; ok {
			continue
		}
		if !hostRE.MatchString(n) {
			s.Log.Warn("deploy: a nixosConfigurations name is not a host name; skipped", "name", clip(n, 60))
			continue
		}
		t := *s.FlakeTargets
		t.Name, t.Host = n, n
		t.SSH = strings.ReplaceAll(t.SSH, "{host}", n)
		t.Labels = map[string]string{}
		for k, v := range s.FlakeTargets.Labels {
			t.Labels[k] = strings.ReplaceAll(v, "{host}", n)
		}
		s.Targets[n] = &t
	}
	return nil
}

// NewPlan plans a deploy of rev (empty: the branch head) or a rollback to
// rev (empty: the previous successful revision) of a target.
func (s *Service) NewPlan(ctx context.Context, kind, target, rev, actor string) (*Plan, error) {
	members, group := s.Groups[target]
	if group {
		if kind != KindDeploy && rev == "" {
			return nil, refuse("name the revision to roll group %s back to: its targets may run different ones", target)
		}
		target = members[0]
	}
	t, err := s.target(ctx, target)
	if err != nil {
		return nil, err
	}
	if rev != "" {
		if err := CheckRev(rev); err != nil {
			return nil, err
		}
	}
	head, rewritten, err := s.Repo.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	now := s.Now().UTC()
	p := &Plan{Kind: kind, Target: t.Name, Requested: rev, Rewritten: rewritten, SecondApproval: t.SecondApproval,
		RequestedBy: actor, CreatedAt: now, ExpiresAt: now.Add(s.PlanTTL)}
	if p.From, err = s.Store.Deployed(ctx, t.Name, 0); err != nil {
		return nil, err
	}
	switch {
	case rev != "":
		if p.To, err = s.Repo.Resolve(ctx, rev); err != nil {
			return nil, err
		}
	case kind == KindDeploy:
		p.To = head
		if err := s.Repo.verify(ctx, head); err != nil {
			return nil, err
		}
	default:
		// The revision before the one deployed now.
		if p.To, err = s.previous(ctx, t.Name, p.From); err != nil {
			return nil, err
		}
	}
	if group {
		p.Target, p.Targets = s.groupName(members), members
		for _, m := range members {
			mt, err := s.target(ctx, m)
			if err != nil {
				return nil, err
			}
			p.SecondApproval = p.SecondApproval || mt.SecondApproval
		}
	} else if p.To == p.From && kind == KindDeploy {
		return nil, refuse("%s already runs %s", t.Name, short(p.To))
	}
	if p.Commits, err = s.Repo.Log(ctx, p.From, p.To, 20); err != nil {
		return nil, err
	}
	if err := s.Store.CreatePlan(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// previous finds the last successful revision that is not current.
func (s *Service) previous(ctx context.Context, target, current string) (string, error) {
	runs, err := s.Store.Runs(ctx, target, 200)
	if err != nil {
		return "", err
	}
	for _, r := range runs {
		if r.State == Succeeded && r.To != current {
			return r.To, nil
		}
	}
	return "", refuse("%s has no earlier successful deploy to roll back to; name a revision", target)
}

// Approve approves a plan and starts its run. The approval holds for the
// plan's exact revisions: if the branch moved (for a plan of the head) or
// the target was deployed since, it is void.
func (s *Service) Approve(ctx context.Context, id int64, approver, origin string, force bool) (*Run, error) {
	p, err := s.Store.Plan(ctx, id)
	if err != nil {
		return nil, err
	}
	name := p.Target
	if len(p.Targets) > 0 {
		name = p.Targets[0]
	}
	t, err := s.target(ctx, name)
	if err != nil {
		return nil, err
	}
	switch {
	case p.RunID != 0:
		return nil, refuse("plan %d was already approved by %s: run #%d", p.ID, p.ApprovedBy, p.RunID)
	case s.Now().After(p.ExpiresAt):
		return nil, refuse("plan %d expired at %s; ask again", p.ID, p.ExpiresAt.Format("15:04 UTC"))
	case p.SecondApproval && approver == p.RequestedBy:
		return nil, refuse("%s needs a second person's approval: someone other than %s must approve", p.Target, p.RequestedBy)
	}
	head, rewritten, err := s.Repo.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	if rewritten && !force {
		return nil, refuse("the history of %s was rewritten (force-pushed) since opsbot last saw it; approve with force if that is intended", s.Repo.Branch)
	}
	if p.Kind == KindDeploy && p.Requested == "" && head != p.To {
		return nil, refuse("%s moved to %s since the plan; this approval was for %s only: ask again", s.Repo.Branch, short(head), short(p.To))
	}
	if from, err := s.Store.Deployed(ctx, t.Name, 0); err != nil {
		return nil, err
	} else if from != p.From && len(p.Targets) == 0 {
		return nil, refuse("%s was deployed (to %s) since the plan; ask again", t.Name, short(from))
	}
	if rewritten {
		if err := s.Repo.Accept(head); err != nil {
			return nil, err
		}
	}
	r := &Run{PlanID: p.ID, Kind: p.Kind, Target: t.Name, Driver: t.Driver.Name, From: p.From, To: p.To,
		Actor: p.RequestedBy, Origin: origin, ApprovedBy: approver}
	switch {
	case p.Kind == KindRollback && t.Revert:
		r.Mode = ModeRevert
	case p.Kind == KindRollback && p.Requested == "" && len(t.Driver.Rollback) > 0:
		r.Mode = ModeRollbackCommand
	}
	if len(p.Targets) > 0 {
		r.Group, r.Target, r.Driver = p.Target, p.Targets[0], t.Driver.Name
		if r.From, err = s.Store.Deployed(ctx, r.Target, 0); err != nil {
			return nil, err
		}
	}
	if err := s.begin(ctx, t, r); err != nil {
		return nil, err
	}
	if len(p.Targets) > 1 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runGroup(p, r)
		}()
	}
	return r, nil
}

func joinSorted(names []string) string {
	sort.Strings(names)
	return strings.Join(names, ", ")
}
