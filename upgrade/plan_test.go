package upgrade

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/deploy"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// repo makes a git repo in dir from files.
func repo(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	git(t, dir, "init", "-q", "-b", "main")
	commit(t, dir, files, "init")
}

func commit(t *testing.T, dir string, files map[string]string, msg string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", msg)
}

func testdata(t *testing.T, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPlan: real nix updates a flake with local git inputs, builds the
// hosts' old and new systems and diffs their closures; the lock diff, the
// version changes and the impact (reboot, k3s restart, a service) come
// from nix's own output.
func TestPlan(t *testing.T) {
	if _, err := exec.LookPath("nix"); err != nil {
		if os.Getenv("OPSBOT_REQUIRE_REAL") != "" {
			t.Fatal("nix is not installed (apt-get install nix-bin)")
		}
		t.Skip("nix is not installed")
	}
	t.Setenv("NIX_CONFIG", "experimental-features = nix-command flakes\nsandbox = false\nsubstituters =")
	dir := t.TempDir()
	pkgs, tools, host := filepath.Join(dir, "pkgs"), filepath.Join(dir, "tools"), filepath.Join(dir, "host")
	repo(t, pkgs, map[string]string{"flake.nix": testdata(t, "pkgs/flake.nix"),
		"versions.json": `{"kernel": "6.1.1", "k3s": "1.28.1", "hello": "2.12", "nginxUnitBytes": 10240}`})
	repo(t, tools, map[string]string{"flake.nix": `{ outputs = { self }: { }; }`})
	flake := strings.NewReplacer("@PKGS@", pkgs, "@TOOLS@", tools).Replace(testdata(t, "host/flake.nix"))
	repo(t, host, map[string]string{"flake.nix": flake})
	lock := exec.Command("nix", "flake", "lock")
	lock.Dir = host
	if out, err := lock.CombinedOutput(); err != nil {
		t.Fatalf("nix flake lock: %v\n%s", err, out)
	}
	commit(t, host, nil, "flake.lock")
	git(t, host, "config", "receive.denyCurrentBranch", "updateInstead")
	oldPkgs := git(t, pkgs, "rev-parse", "HEAD")
	commit(t, pkgs, map[string]string{"versions.json": `{"kernel": "6.1.2", "k3s": "1.28.2", "hello": "2.12", "nginxUnitBytes": 40960}`}, "v2")
	newPkgs := git(t, pkgs, "rev-parse", "HEAD")

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
