package upgrade

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/internal/flaketest"
)

// TestPlan: real nix updates a flake with local git inputs, builds the
// hosts' old and new systems and diffs their closures; the lock diff, the
// version changes and the impact (reboot, k3s restart, a service) come
// from nix's own output.
func TestPlan(t *testing.T) {
	flaketest.Nix(t)
	r := flaketest.New(t)
	dir, host, pkgs := t.TempDir(), r.Host, r.Pkgs
	git := flaketest.Git
	oldPkgs := git(t, pkgs, "rev-parse", "HEAD")
	newPkgs := r.Bump(t)

	p := &Planner{
		Repo:    &deploy.Repo{URL: host, Branch: "main", Dir: filepath.Join(dir, "data", "repo"), Timeout: time.Minute},
		WorkDir: filepath.Join(dir, "data", "work"), Build: DefaultBuild, Hosts: []string{"web", "db"}, Timeout: 5 * time.Minute,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
	}
	ctx := context.Background()
	plan, err := p.NewPlan(ctx, nil, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Inputs) != 1 || plan.Inputs[0].Name != "pkgs" || plan.Inputs[0].OldRev != oldPkgs || plan.Inputs[0].NewRev != newPkgs ||
		plan.Inputs[0].NewDate.IsZero() || len(plan.LockHash) != 64 || !strings.Contains(plan.Lock, newPkgs) {
		t.Fatalf("inputs: %+v", plan.Inputs)
	}
	if len(plan.Hosts) != 2 || plan.Hosts[0].Host != "db" || plan.Hosts[1].Host != "web" {
		t.Fatalf("hosts: %+v", plan.Hosts)
	}
	db, web := plan.Hosts[0], plan.Hosts[1]
	if db.Error != "" || web.Error != "" {
		t.Fatalf("errors: %q %q", db.Error, web.Error)
	}
	changes := map[string]Change{}
	for _, c := range web.Changes {
		changes[c.Name] = c
	}
	if c := changes["linux"]; c.From != "6.1.1" || c.To != "6.1.2" {
		t.Fatalf("web changes: %+v", web.Changes)
	}
	if c := changes["k3s"]; c.From != "1.28.1" || c.To != "1.28.2" {
		t.Fatalf("web changes: %+v", web.Changes)
	}
	if c := changes["unit-nginx.service"]; c.Size != "+30.0 KiB" {
		t.Fatalf("web changes: %+v", web.Changes)
	}
	if _, ok := changes["hello"]; ok {
		t.Fatalf("hello did not change: %+v", web.Changes)
	}
	if s := web.Impact.Summary(); s != "reboot; k3s restart; restarts nginx.service" {
		t.Fatalf("web impact: %s", s)
	}
	if s := db.Impact.Summary(); s != "reboot" {
		t.Fatalf("db impact: %s %+v", s, db.Changes)
	}
	// Only an input that did not change: nothing to do.
	plan, err = p.NewPlan(ctx, []string{"tools"}, "alice")
	if err != nil || len(plan.Inputs) != 0 || plan.Hosts[1].Impact.Summary() != "nothing" {
		t.Fatalf("tools only: %+v %v", plan, err)
	}
	for _, in := range []string{"nope", "--update-input=x", "$(id)"} {
		var ref *deploy.Refusal
		if _, err := p.NewPlan(ctx, []string{in}, "alice"); !errors.As(err, &ref) {
			t.Errorf("input %q: %v", in, err)
		}
	}
	// With a branch, the new lock file is committed there and pushed.
	p.Branch = "opsbot/upgrade"
	if plan, err = p.NewPlan(ctx, nil, "alice"); err != nil || plan.Commit == "" {
		t.Fatalf("branch: %+v %v", plan, err)
	}
	if got := git(t, host, "rev-parse", "refs/heads/opsbot/upgrade"); got != plan.Commit {
		t.Fatalf("the branch is at %s, the plan says %s", got, plan.Commit)
	}
	if body := git(t, host, "show", "opsbot/upgrade:flake.lock"); !strings.Contains(body, newPkgs) {
		t.Fatal("the pushed lock file is not the new one")
	}
}
