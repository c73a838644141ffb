// Package upgrade plans upgrades of the declarative repo's flake: in a
// scratch worktree, `nix flake update`, the lock file's changes per
// input, and for each host the old and new system closures built and
// compared with `nix store diff-closures`, classified into what the
// upgrade would restart (a reboot, k3s, services).
package upgrade

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/opsbot/opsbot/deploy"
)

// Plan is what an upgrade would change.
type Plan struct {
	ID        int64     `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// State is planning, ready or failed (with Error).
	State string `json:"state"`
	Error string `json:"error,omitempty"`
	// Head is the branch head the plan starts from; Inputs the inputs
	// asked for (none: all).
	Head        string   `json:"head"`
	Requested   []string `json:"requested,omitempty"`
	RequestedBy string   `json:"requested_by"`
	// LockHash is the sha256 of the new flake.lock; Lock its content.
	LockHash string        `json:"lock_hash"`
	Lock     string        `json:"lock,omitempty"`
	Inputs   []InputChange `json:"inputs"`
	Hosts    []HostChange  `json:"hosts"`
	// Commit and Branch: where the new lock file was pushed, if it was.
	Commit string `json:"commit,omitempty"`
	Branch string `json:"branch,omitempty"`
}

// InputChange is one flake input whose locked revision changed.
type InputChange struct {
	Name    string    `json:"name"`
	OldRev  string    `json:"old_rev"`
	NewRev  string    `json:"new_rev"`
	OldDate time.Time `json:"old_date"`
	NewDate time.Time `json:"new_date"`
}

// HostChange is what the upgrade changes on one host.
type HostChange struct {
	Host    string   `json:"host"`
	Old     string   `json:"old,omitempty"`
	New     string   `json:"new,omitempty"`
	Changes []Change `json:"changes"`
	Impact  Impact   `json:"impact"`
	// Error says why the host could not be planned.
	Error string `json:"error,omitempty"`
}

// Planner makes plans.
type Planner struct {
	Repo    *deploy.Repo
	WorkDir string
	// Build builds a host's system and prints nix build's JSON: an
	// argument vector with {repo_dir} and {host}.
	Build   []string
	Hosts   []string
	Timeout time.Duration
	// Branch, if set, receives a commit of the new lock file (pushed,
	// replacing what was there).
	Branch string
	Log    *slog.Logger
	Now    func() time.Time
}

// DefaultBuild builds a NixOS host's toplevel.
var DefaultBuild = []string{"nix", "build", "--no-link", "--json", "{repo_dir}#nixosConfigurations.{host}.config.system.build.toplevel"}

var inputRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// NewPlan plans an upgrade of inputs (none: all).
func (p *Planner) NewPlan(ctx context.Context, inputs []string, actor string) (*Plan, error) {
	for _, in := range inputs {
		if !inputRE.MatchString(in) {
			return nil, &deploy.Refusal{Msg: fmt.Sprintf("%q is not a flake input name", clip(in, 40))}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	head, _, err := p.Repo.Fetch(ctx)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(p.WorkDir, fmt.Sprintf("upgrade-%d", p.Now().UnixNano()))
	remove, err := p.Repo.Checkout(ctx, head, dir)
	if err != nil {
		return nil, err
	}
	defer remove()
	plan := &Plan{CreatedAt: p.Now().UTC(), Head: head, Requested: inputs, RequestedBy: actor, Branch: p.Branch}
	oldLock, err := os.ReadFile(filepath.Join(dir, "flake.lock"))
	if err != nil {
		return nil, &deploy.Refusal{Msg: "the repo has no flake.lock to update"}
	}
	known, err := rootInputs(oldLock)
	if err != nil {
		return nil, err
	}
	for _, in := range inputs {
		if _, ok := known[in]; !ok {
			return nil, &deploy.Refusal{Msg: fmt.Sprintf("the flake has no input %q (inputs: %s)", in, strings.Join(sortedKeys(known), ", "))}
		}
	}
	old := map[string]string{}
	for _, h := range p.Hosts {
		if path, err := p.build(ctx, dir, h); err == nil {
			old[h] = path
		} else {
			plan.Hosts = append(plan.Hosts, HostChange{Host: h, Error: "building the current system: " + err.Error()})
		}
	}
	update := []string{"flake", "update"}
	if len(inputs) > 0 {
		update = []string{"flake", "lock"}
		for _, in := range inputs {
			update = append(update, "--update-input", in)
		}
	}
	if out, err := p.nix(ctx, dir, update...); err != nil {
		return nil, fmt.Errorf("nix %s: %v: %s", strings.Join(update, " "), err, clip(out, 400))
	}
	newLock, err := os.ReadFile(filepath.Join(dir, "flake.lock"))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(newLock)
	plan.LockHash, plan.Lock = hex.EncodeToString(sum[:]), string(newLock)
	if plan.Inputs, err = lockDiff(oldLock, newLock); err != nil {
		return nil, err
	}
	for _, h := range p.Hosts {
		oldPath, ok := old[h]
		if !ok {
			continue
		}
		hc := HostChange{Host: h, Old: oldPath, Changes: []Change{}}
		if hc.New, err = p.build(ctx, dir, h); err != nil {
			hc.Error = "building the upgraded system: " + err.Error()
		} else if out, err := p.nix(ctx, dir, "store", "diff-closures", hc.Old, hc.New); err != nil {
			hc.Error = "diff-closures: " + clip(out, 300)
		} else {
			hc.Changes = ParseDiffClosures(out)
			hc.Impact = Classify(hc.Changes)
		}
		plan.Hosts = append(plan.Hosts, hc)
	}
	sort.Slice(plan.Hosts, func(i, j int) bool { return plan.Hosts[i].Host < plan.Hosts[j].Host })
	if p.Branch != "" && len(plan.Inputs) > 0 {
		if plan.Commit, err = p.Repo.CommitFile(ctx, dir, "flake.lock", p.Branch,
			fmt.Sprintf("flake.lock: update %s\n\nopsbot upgrade plan, asked by %s.", strings.Join(names(plan.Inputs), ", "), actor), true); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

func names(in []InputChange) []string {
	out := make([]string, len(in))
	for i, c := range in {
		out[i] = c.Name
	}
	return out
}

// build builds a host's system and returns its store path.
func (p *Planner) build(ctx context.Context, dir, host string) (string, error) {
	args, err := deploy.Expand(p.Build, deploy.Vars{Host: host, RepoDir: dir})
	if err != nil {
		return "", err
	}
	out, err := p.run(ctx, dir, args[0], args[1:]...)
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, clip(out, 300))
	}
	var res []struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(lastLine(out)), &res); err != nil || len(res) == 0 || res[0].Outputs["out"] == "" {
		return "", fmt.Errorf("no store path in the build's output: %s", clip(out, 200))
	}
	return res[0].Outputs["out"], nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func (p *Planner) nix(ctx context.Context, dir string, args ...string) (string, error) {
	return p.run(ctx, dir, "nix", args...)
}

// run runs an argument vector; stdout comes back, or stderr with an error.
func (p *Planner) run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stderr.String()), err
	}
	return stdout.String(), nil
}

type lockFile struct {
	Nodes map[string]struct {
		Inputs map[string]any `json:"inputs"`
		Locked struct {
			Rev          string `json:"rev"`
			NarHash      string `json:"narHash"`
			LastModified int64  `json:"lastModified"`
		} `json:"locked"`
	} `json:"nodes"`
	Root string `json:"root"`
}

// rootInputs maps the flake's own inputs to their lock nodes.
func rootInputs(b []byte) (map[string]string, error) {
	var l lockFile
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("flake.lock: %w", err)
	}
	root, ok := l.Nodes[l.Root]
	if !ok {
		return nil, errors.New("flake.lock: no root node")
	}
	out := map[string]string{}
	for name, n := range root.Inputs {
		if node, ok := n.(string); ok { // lists are follows
			out[name] = node
		}
	}
	return out, nil
}

// lockDiff lists the inputs whose locked revision changed.
func lockDiff(oldB, newB []byte) ([]InputChange, error) {
	var oldL, newL lockFile
	if err := json.Unmarshal(oldB, &oldL); err != nil {
		return nil, fmt.Errorf("old flake.lock: %w", err)
	}
	if err := json.Unmarshal(newB, &newL); err != nil {
		return nil, fmt.Errorf("new flake.lock: %w", err)
	}
	oldIn, _ := rootInputs(oldB)
	newIn, err := rootInputs(newB)
	if err != nil {
		return nil, err
	}
	out := []InputChange{}
	for _, name := range sortedKeys(newIn) {
		n := newL.Nodes[newIn[name]].Locked
		o := oldL.Nodes[oldIn[name]].Locked
		id := func(rev, hash string) string {
			if rev != "" {
				return rev
			}
			return hash
		}
		if id(o.Rev, o.NarHash) == id(n.Rev, n.NarHash) {
			continue
		}
		out = append(out, InputChange{Name: name, OldRev: id(o.Rev, o.NarHash), NewRev: id(n.Rev, n.NarHash),
			OldDate: time.Unix(o.LastModified, 0).UTC(), NewDate: time.Unix(n.LastModified, 0).UTC()})
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
