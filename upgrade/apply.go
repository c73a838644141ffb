package upgrade

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/drain"

	"github.com/opsbot/opsbot/deploy"
)

// Node is a Kubernetes node and the deploy target that is its host.
type Node struct {
	Name, Target string
}

// Apply is a rolling upgrade: its progress, node by node.
type Apply struct {
	ID       int64  `json:"id"`
	PlanID   int64  `json:"plan_id"`
	LockHash string `json:"lock_hash"`
	// Rev is the commit of the new lock file on the branch, deployed to
	// every node.
	Rev        string       `json:"rev,omitempty"`
	By         string       `json:"by"`
	State      string       `json:"state"`
	Node       int          `json:"node"`
	Phase      string       `json:"phase"`
	Nodes      []NodeResult `json:"nodes"`
	StartedAt  time.Time    `json:"started_at"`
	EndedAt    *time.Time   `json:"ended_at,omitempty"`
	Error      string       `json:"error,omitempty"`
	Snapshoted bool         `json:"snapshot,omitempty"`
	// ChatRef is the chat message that follows the upgrade.
	ChatRef string `json:"chat_ref,omitempty"`
}

// NodeResult is what happened to one node.
type NodeResult struct {
	Node   string `json:"node"`
	Target string `json:"target"`
	State  string `json:"state"` // waiting, upgrading, done, failed
	Run    int64  `json:"run,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Progress says where an apply is, in words.
func (a *Apply) Progress() string {
	switch a.State {
	case Done:
		return fmt.Sprintf("upgrade %d: all %d nodes upgraded to %s", a.ID, len(a.Nodes), short(a.Rev))
	case Applying:
		return fmt.Sprintf("upgrade %d: node %d of %d (%s): %s", a.ID, a.Node+1, len(a.Nodes), a.Nodes[a.Node].Node, a.Phase)
	}
	where := ""
	if a.Node < len(a.Nodes) {
		where = fmt.Sprintf(" at node %d of %d (%s) while %s", a.Node+1, len(a.Nodes), a.Nodes[a.Node].Node, a.Phase)
	}
	return fmt.Sprintf("upgrade %d %s%s: %s", a.ID, a.State, where, a.Error)
}

// Policies on a failed node.
const (
	PolicyStop     = "stop"
	PolicyRollback = "rollback"
)

// States of an apply besides Failed and Ready's Done.
const (
	Applying    = "applying"
	Done        = "done"
	Interrupted = "interrupted"
)

// ApplyStore keeps applies.
type ApplyStore interface {
	CreateUpgradeApply(ctx context.Context, a *Apply) error
	UpdateUpgradeApply(ctx context.Context, a *Apply) error
	UpgradeApply(ctx context.Context, id int64) (*Apply, error)
	// InterruptUpgradeApplies marks the applies a stop left applying, and
	// returns them.
	InterruptUpgradeApplies(ctx context.Context, why string) ([]Apply, error)
}

// Applier rolls a plan out, one node at a time.
type Applier struct {
	Plans   Store
	Store   ApplyStore
	Deploys *deploy.Service
	Repo    *deploy.Repo
	Kube    kubernetes.Interface
	Nodes   []Node
	// Snapshot, if set, runs before the first node (k3s etcd-snapshot save).
	Snapshot []string
	// OnFailure is the policy when a node fails: PolicyStop (the node
	// stays cordoned, as it is) or PolicyRollback (the node's target is
	// deployed back to the revision it ran before, and stays cordoned
	// for a person to look at).
	OnFailure    string
	DrainTimeout time.Duration
	ReadyTimeout time.Duration
	Poll         time.Duration
	WorkDir      string
	Log          *slog.Logger
	Now          func() time.Time

	mu      sync.Mutex
	busy    bool
	current *Apply
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// Start readies the applier and returns the applies a stop interrupted.
func (a *Applier) Start(ctx context.Context) ([]Apply, error) {
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a.Store.InterruptUpgradeApplies(ctx, "opsbot stopped during the upgrade")
}

// Stop interrupts the apply in progress (the node it is at stays as it is)
// and waits for it.
func (a *Applier) Stop() {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
}

// Begin starts applying plan id, whose lock file hash the person
// approving saw (lockHash, or a prefix of 12 or more).
func (a *Applier) Begin(ctx context.Context, id int64, lockHash, by string) (*Apply, error) {
	p, err := a.Plans.UpgradePlan(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case p.State != Ready:
		return nil, refusal("upgrade plan %d is %s, not ready", p.ID, p.State)
	case len(p.Inputs) == 0:
		return nil, refusal("upgrade plan %d changes nothing", p.ID)
	case len(lockHash) < 12 || !strings.HasPrefix(p.LockHash, lockHash):
		return nil, refusal("the approval was for flake.lock %s, but plan %d has %s: look at the plan again", clip(lockHash, 12), p.ID, short(p.LockHash))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.busy {
		return nil, refusal("an upgrade is being applied already")
	}
	ap := &Apply{PlanID: p.ID, LockHash: p.LockHash, By: by, State: Applying, Phase: "pushing the new flake.lock", StartedAt: a.Now().UTC()}
	for _, n := range a.Nodes {
		ap.Nodes = append(ap.Nodes, NodeResult{Node: n.Name, Target: n.Target, State: "waiting"})
	}
	if ap.Rev, err = a.push(ctx, p); err != nil {
		return nil, err
	}
	ap.Phase = "starting"
	if err := a.Store.CreateUpgradeApply(ctx, ap); err != nil {
		return nil, err
	}
	return a.launch(ap), nil
}

// launch rolls ap out in the background; a.mu is held. The caller gets a
// copy: the roll changes ap as it goes.
func (a *Applier) launch(ap *Apply) *Apply {
	a.busy, a.current = true, ap
	out := *ap
	out.Nodes = slices.Clone(ap.Nodes)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() { a.mu.Lock(); a.busy, a.current = false, nil; a.mu.Unlock() }()
		a.roll(ap)
	}()
	return &out
}

// push puts the plan's lock file on the branch, on the head the plan was
// made from: a new commit, pushed as a fast-forward.
func (a *Applier) push(ctx context.Context, p *Plan) (string, error) {
	head, _, err := a.Repo.Fetch(ctx)
	if err != nil {
		return "", err
	}
	if head != p.Head {
		return "", refusal("%s moved to %s since plan %d was made from %s: make a new plan", a.Repo.Branch, short(head), p.ID, short(p.Head))
	}
	dir := filepath.Join(a.WorkDir, fmt.Sprintf("apply-%d", a.Now().UnixNano()))
	remove, err := a.Repo.Checkout(ctx, head, dir)
	if err != nil {
		return "", err
	}
	defer remove()
	if err := os.WriteFile(filepath.Join(dir, "flake.lock"), []byte(p.Lock), 0o644); err != nil {
		return "", err
	}
	rev, err := a.Repo.CommitFile(ctx, dir, "flake.lock", a.Repo.Branch,
		fmt.Sprintf("flake.lock: update %s\n\nopsbot upgrade plan %d (flake.lock %s).", strings.Join(names(p.Inputs), ", "), p.ID, short(p.LockHash)), false)
	if err != nil {
		return "", err
	}
	if _, _, err := a.Repo.Fetch(ctx); err != nil {
		return "", err
	}
	return rev, nil
}

func (a *Applier) save(ap *Apply) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.Store.UpdateUpgradeApply(context.WithoutCancel(a.ctx), ap); err != nil {
		a.Log.Error("upgrade: store progress", "apply", ap.ID, "err", err)
	}
}

// roll upgrades the nodes one after the other; the first failure stops
// it, its node left cordoned.
func (a *Applier) roll(ap *Apply) {
	ctx := a.ctx
	var before string // what the node being upgraded ran
	fail := func(err error) {
		state, msg := Failed, err.Error()
		if ctx.Err() != nil {
			state, msg = Interrupted, "opsbot stopped during the upgrade"
		}
		if state == Failed && a.OnFailure == PolicyRollback && before != "" && ap.Node < len(ap.Nodes) {
			// Still applying while the node is rolled back.
			msg += a.rollback(ap, before)
		}
		now := a.Now().UTC()
		ap.State, ap.Error, ap.EndedAt = state, msg, &now
		if ap.Node < len(ap.Nodes) {
			ap.Nodes[ap.Node].State, ap.Nodes[ap.Node].Error = ap.State, ap.Error
		}
		a.save(ap)
		a.Log.Warn("upgrade: stopped", "apply", ap.ID, "progress", ap.Progress())
	}
	if len(a.Snapshot) > 0 && ap.Node == 0 && !ap.Snapshoted {
		ap.Phase = "snapshot"
		a.save(ap)
		if out, err := run(ctx, a.Snapshot); err != nil {
			fail(fmt.Errorf("the snapshot before the first node failed: %v: %s", err, clip(out, 300)))
			return
		}
		ap.Snapshoted = true
	}
	for i := ap.Node; i < len(a.Nodes); i++ {
		n := a.Nodes[i]
		ap.Node = i
		ap.Nodes[i].State = "upgrading"
		step := func(phase string) {
			ap.Phase = phase
			a.save(ap)
			a.Log.Info("upgrade", "apply", ap.ID, "progress", ap.Progress())
		}
		step("cordoning")
		node, err := a.Kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			fail(err)
			return
		}
		helper := &drain.Helper{Ctx: ctx, Client: a.Kube, IgnoreAllDaemonSets: true, DeleteEmptyDirData: true, GracePeriodSeconds: -1,
			Timeout: a.DrainTimeout, EvictErrorRetryDelay: a.Poll, Out: io.Discard, ErrOut: io.Discard}
		if err := drain.RunCordonOrUncordon(helper, node, true); err != nil {
			fail(fmt.Errorf("cordon %s: %w", n.Name, err))
			return
		}
		step("draining")
		if err := drain.RunNodeDrain(helper, n.Name); err != nil {
			fail(fmt.Errorf("drain %s: %w", n.Name, err))
			return
		}
		step("deploying")
		if before, err = a.Deploys.Store.Deployed(ctx, n.Target, 0); err != nil {
			fail(err)
			return
		}
		r, err := a.Deploys.RunNow(ctx, n.Target, ap.Rev, ap.By, fmt.Sprintf("upgrade %d, node %d of %d", ap.ID, i+1, len(a.Nodes)))
		if err != nil {
			fail(fmt.Errorf("deploy %s: %w", n.Target, err))
			return
		}
		ap.Nodes[i].Run = r.ID
		if r.State != deploy.Succeeded {
			fail(fmt.Errorf("deploy %s: run #%d %s: %s", n.Target, r.ID, r.State, r.Outcome))
			return
		}
		step("waiting for the node to be Ready")
		if err := a.ready(ctx, n.Name); err != nil {
			fail(err)
			return
		}
		step("uncordoning")
		if node, err = a.Kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{}); err == nil {
			err = drain.RunCordonOrUncordon(helper, node, false)
		}
		if err != nil {
			fail(fmt.Errorf("uncordon %s: %w", n.Name, err))
			return
		}
		ap.Nodes[i].State = Done
	}
	now := a.Now().UTC()
	ap.State, ap.Phase, ap.EndedAt, ap.Node = Done, "done", &now, len(a.Nodes)-1
	a.save(ap)
	a.Log.Info("upgrade: done", "apply", ap.ID, "progress", ap.Progress())
}

// rollback deploys the failed node's target back to rev; the node stays
// cordoned. It returns what happened, for the apply's error.
func (a *Applier) rollback(ap *Apply, rev string) string {
	n := ap.Nodes[ap.Node]
	ap.Phase = "rolling back " + n.Target + " to " + short(rev)
	a.save(ap)
	a.Log.Info("upgrade", "apply", ap.ID, "progress", ap.Progress())
	r, err := a.Deploys.RunNow(a.ctx, n.Target, rev, ap.By, fmt.Sprintf("upgrade %d: the rollback of node %d", ap.ID, ap.Node+1))
	switch {
	case err != nil:
		return fmt.Sprintf("; the rollback of %s failed: %v", n.Target, err)
	case r.State != deploy.Succeeded:
		return fmt.Sprintf("; the rollback of %s failed: run #%d %s: %s", n.Target, r.ID, r.State, r.Outcome)
	}
	return fmt.Sprintf("; %s was rolled back to %s (run #%d); %s stays cordoned", n.Target, short(rev), r.ID, n.Node)
}

// ready waits for a node to report Ready.
func (a *Applier) ready(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, a.ReadyTimeout)
	defer cancel()
	for {
		node, err := a.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s is not Ready after %s", name, a.ReadyTimeout)
		case <-time.After(a.Poll):
		}
	}
}

// Resume goes on with an upgrade a stop interrupted, from the node it
// stopped at (cordoned, drained, deployed, uncordoned again).
func (a *Applier) Resume(ctx context.Context, id int64, by string) (*Apply, error) {
	ap, err := a.Store.UpgradeApply(ctx, id)
	if err != nil {
		return nil, err
	}
	if ap.State != Interrupted {
		return nil, refusal("upgrade %d is %s; only an interrupted one can be resumed", ap.ID, ap.State)
	}
	if len(ap.Nodes) != len(a.Nodes) {
		return nil, refusal("upgrade.nodes changed since upgrade %d began; apply a new plan", ap.ID)
	}
	for i, n := range a.Nodes {
		if ap.Nodes[i].Node != n.Name || ap.Nodes[i].Target != n.Target {
			return nil, refusal("upgrade.nodes changed since upgrade %d began; apply a new plan", ap.ID)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.busy {
		return nil, refusal("an upgrade is being applied already")
	}
	ap.State, ap.Error, ap.EndedAt, ap.Phase = Applying, "", nil, "resuming, by "+by
	if err := a.Store.UpdateUpgradeApply(ctx, ap); err != nil {
		return nil, err
	}
	return a.launch(ap), nil
}

// SetChatRef records the chat message that follows an upgrade, to tell it
// if a restart interrupts the upgrade.
func (a *Applier) SetChatRef(ctx context.Context, id int64, ref string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.current != nil && a.current.ID == id {
		a.current.ChatRef = ref // saved with the next step
	}
	ap, err := a.Store.UpgradeApply(ctx, id)
	if err != nil {
		return
	}
	ap.ChatRef = ref
	if err := a.Store.UpdateUpgradeApply(ctx, ap); err != nil {
		a.Log.Error("upgrade: record the chat message", "upgrade", id, "err", err)
	}
}

// Get returns an apply.
func (a *Applier) Get(ctx context.Context, id int64) (*Apply, error) {
	return a.Store.UpgradeApply(ctx, id)
}

func refusal(format string, args ...any) error {
	return &deploy.Refusal{Msg: fmt.Sprintf(format, args...)}
}

// ErrNoApply is returned for an apply that does not exist.
var ErrNoApply = errors.New("no such upgrade")

func run(ctx context.Context, argv []string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
