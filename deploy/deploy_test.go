package deploy_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/store"
)

type repo struct {
	t   *testing.T
	dir string
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes the version file and commits; it returns the commit id.
func (r *repo) commit(version, msg string) string {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, "version"), []byte(version), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", ".")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func nixOrSkip(t *testing.T) {
	if _, err := exec.LookPath("nix"); err != nil {
		if os.Getenv("OPSBOT_REQUIRE_REAL") != "" {
			t.Fatal("nix is not installed (apt-get install nix-bin)")
		}
		t.Skip("nix is not installed; scripts/test.sh installs it")
	}
	t.Setenv("NIX_CONFIG", "experimental-features = nix-command flakes\nsandbox = false\nsubstituters =")
}

type env struct {
	t        *testing.T
	origin   *repo
	svc      *deploy.Service
	store    *store.Store
	profiles string
}

func newEnv(t *testing.T, targets ...*deploy.Target) *env {
	t.Helper()
	dir := t.TempDir()
	origin := &repo{t: t, dir: filepath.Join(dir, "origin")}
	os.MkdirAll(origin.dir, 0o755)
	origin.git("init", "-q", "-b", "main")
	flake, err := os.ReadFile("testdata/flake/flake.nix")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(origin.dir, "flake.nix"), flake, 0o644)
	st, err := store.Open(filepath.Join(dir, "opsbot.db"), store.Options{Rules: incidents.DefaultRules()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, origin: origin, store: st, profiles: filepath.Join(dir, "profiles")}
	os.MkdirAll(e.profiles, 0o755)
	t.Setenv("DEPLOY_PROFILES", e.profiles)
	e.svc = &deploy.Service{
		Repo:    &deploy.Repo{URL: origin.dir, Branch: "main", Dir: filepath.Join(dir, "data", "repo"), Timeout: time.Minute},
		Targets: map[string]*deploy.Target{}, Store: st, WorkDir: filepath.Join(dir, "data", "runs"),
		Scrub: deploy.NewScrubber("hunter2-secret-value"), PlanTTL: 10 * time.Minute, OutputLimit: 64 << 10,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now,
	}
	for _, tg := range targets {
		if tg.Host == "" {
			tg.Host = tg.Name
		}
		if tg.Timeout == 0 {
			tg.Timeout = 2 * time.Minute
		}
		e.svc.Targets[tg.Name] = tg
	}
	if _, err := e.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Stop)
	return e
}

// deploy plans and approves, and waits for the run (and what follows it)
// to end.
func (e *env) deploy(kind, target, rev, who string) *deploy.Run {
	e.t.Helper()
	p, err := e.svc.NewPlan(context.Background(), kind, target, rev, who)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.svc.Approve(context.Background(), p.ID, who, "test", false)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.wait(r.ID)
}

func (e *env) wait(id int64) *deploy.Run {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, ch, err := e.svc.Follow(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if ch == nil {
			return r
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
			e.t.Fatalf("run %d did not end: %+v", id, r)
		}
	}
}

// generation is what the host's profile points at now.
func (e *env) generation(host string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.profiles, host))
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestNixDeployAndRollback: real nix deploys the offline flake; each
// deploy is a generation; a rollback goes to the previous successful
// revision, and the output is kept, scrubbed.
func TestNixDeployAndRollback(t *testing.T) {
	nixOrSkip(t)
	web := &deploy.Target{Name: "web", Driver: deploy.Presets["nix-run"]}
	e := newEnv(t, web)
	c1 := e.origin.commit("1", "web: version 1")
	r := e.deploy(deploy.KindDeploy, "web", "", "alice")
	if r.State != deploy.Succeeded || r.To != c1 || r.From != "" || *r.ExitStatus != 0 || e.generation("web") != "web 1" {
		t.Fatalf("first deploy: %+v\n%s", r, r.Output)
	}
	if !strings.Contains(r.Output, "deployed web /nix/store/") || !strings.Contains(r.Output, "token=<secret>") || strings.Contains(r.Output, "hunter2") {
		t.Fatalf("output:\n%s", r.Output)
	}
	c2 := e.origin.commit("2", "web: version 2")
	p, err := e.svc.NewPlan(context.Background(), deploy.KindDeploy, "web", "", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.From != c1 || p.To != c2 || len(p.Commits) != 1 || !strings.HasSuffix(p.Commits[0], "web: version 2") {
		t.Fatalf("plan: %+v", p)
	}
	r, err = e.svc.Approve(context.Background(), p.ID, "alice", "test", false)
	if err != nil {
		t.Fatal(err)
	}
	if r = e.wait(r.ID); r.State != deploy.Succeeded || e.generation("web") != "web 2" {
		t.Fatalf("second deploy: %+v\n%s", r, r.Output)
	}
	// The plan is spent.
	if _, err := e.svc.Approve(context.Background(), p.ID, "alice", "test", false); err == nil || !strings.Contains(err.Error(), "already approved") {
		t.Fatalf("second approval: %v", err)
	}
	// Roll back: to c1, the previous successful revision.
	r = e.deploy(deploy.KindRollback, "web", "", "bob")
	if r.State != deploy.Succeeded || r.From != c2 || r.To != c1 || e.generation("web") != "web 1" {
		t.Fatalf("rollback: %+v\n%s", r, r.Output)
	}
	gens, _ := filepath.Glob(filepath.Join(e.profiles, "web-*-link"))
	if len(gens) != 3 {
		t.Fatalf("generations: %v", gens)
	}
	runs, _ := e.svc.Runs(context.Background(), "web", 10)
	if len(runs) != 3 || runs[0].Kind != deploy.KindRollback || runs[0].Actor != "bob" {
		t.Fatalf("runs: %+v", runs)
	}
}

// TestGenerationRollback: a driver with a rollback command (as
// nixos-rebuild --rollback) goes back one generation of the profile.
func TestGenerationRollback(t *testing.T) {
	nixOrSkip(t)
	e := newEnv(t)
	prof := filepath.Join(e.profiles, "nas")
	e.svc.Targets["nas"] = &deploy.Target{Name: "nas", Host: "nas", Timeout: time.Minute, Driver: deploy.Driver{
		Name:     "generations",
		Deploy:   []string{"nix", "run", "{repo_dir}#deploy", "--", "{host}"},
		Rollback: []string{"nix-env", "--profile", prof, "--rollback"},
	}}
	e.origin.commit("1", "one")
	e.deploy(deploy.KindDeploy, "nas", "", "alice")
	e.origin.commit("2", "two")
	e.deploy(deploy.KindDeploy, "nas", "", "alice")
	if e.generation("nas") != "nas 2" {
		t.Fatal(e.generation("nas"))
	}
	r := e.deploy(deploy.KindRollback, "nas", "", "alice")
	if r.State != deploy.Succeeded || r.Mode != deploy.ModeRollbackCommand || e.generation("nas") != "nas 1" ||
		!strings.Contains(r.Output, "switching profile from version 2 to 1") {
		t.Fatalf("rollback: %+v\n%s", r, r.Output)
	}
}

// TestRefusals: what is not a revision or a target, or is not on the
// branch, is refused with a sentence, and nothing runs.
func TestRefusals(t *testing.T) {
	pwned := filepath.Join(t.TempDir(), "pwned")
	e := newEnv(t, &deploy.Target{Name: "web", Driver: deploy.Driver{Name: "command", Deploy: []string{"true"}}})
	c1 := e.origin.commit("1", "one")
	e.origin.git("checkout", "-q", "-b", "feature")
	off := e.origin.commit("x", "off the branch")
	e.origin.git("checkout", "-q", "main")
	ctx := context.Background()
	for _, c := range []struct{ target, rev, want string }{
		{"web", "0123456789abcdef", "is not in the repo"},
		{"web", off, "is not on branch main"},
		{"web", "feature", "is not on branch main"},
		{"web", "--upload-pack=touch " + pwned, "is not a revision"},
		{"web", ";rm -rf /", "is not a revision"},
		{"web", "$(touch " + pwned + ")", "is not a revision"},
		{"web", "`touch " + pwned + "`", "is not a revision"},
		{"web", "../../etc/passwd", "is not a revision"},
		{"web", "-rf", "is not a revision"},
		{"web", "main..feature", "is not a revision"},
		{"web", "HEAD@{1}", "is not a revision"},
		{"--upload-pack=touch " + pwned, "", "there is no target"},
		{"../web", "", "there is no target"},
		{"web;ls", "", "there is no target"},
		{"-rf", "", "there is no target"},
	} {
		_, err := e.svc.NewPlan(ctx, deploy.KindDeploy, c.target, c.rev, "mallory")
		var ref *deploy.Refusal
		if !errors.As(err, &ref) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("target %q rev %q: %v, want %q", c.target, c.rev, err, c.want)
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("an injection ran")
	}
	if runs, _ := e.svc.Runs(ctx, "", 10); len(runs) != 0 {
		t.Fatalf("runs: %+v", runs)
	}
	// A short id on the branch resolves to the full one.
	p, err := e.svc.NewPlan(ctx, deploy.KindDeploy, "web", c1[:8], "alice")
	if err != nil || p.To != c1 {
		t.Fatalf("short id: %+v %v", p, err)
	}
	// Expand keeps a value inside its argument.
	args, err := deploy.Expand([]string{"deploy", "--flake", "{repo_dir}#{host}", "{ssh}"}, deploy.Vars{Host: "web", RepoDir: "/x y", SSH: "root@web.lan:22"})
	if err != nil || len(args) != 4 || args[2] != "/x y#web" {
		t.Fatalf("expand: %q %v", args, err)
	}
	for _, v := range []deploy.Vars{{Host: "-oProxyCommand=x"}, {Host: "web", SSH: "-oProxyCommand=touch"}, {Host: "web", Rev: "HEAD"}, {Host: "a b"}} {
		if _, err := deploy.Expand([]string{"x", "{host}", "{ssh}", "{rev}"}, v); err == nil {
			t.Errorf("expand %+v: no error", v)
		}
	}
}

// TestApprovals: a new commit voids a plan of the head; a force-push must
// be approved with force; a target may need a second person; one run at
// a time per target, and a busy target says who holds it.
func TestApprovals(t *testing.T) {
	e := newEnv(t,
		&deploy.Target{Name: "slow", Driver: deploy.Driver{Name: "command", Deploy: []string{"sleep", "2"}}},
		&deploy.Target{Name: "db", SecondApproval: true, Driver: deploy.Driver{Name: "command", Deploy: []string{"true"}}})
	ctx := context.Background()
	c1 := e.origin.commit("1", "one")
	p, _ := e.svc.NewPlan(ctx, deploy.KindDeploy, "slow", "", "alice")
	e.origin.commit("2", "two")
	if _, err := e.svc.Approve(ctx, p.ID, "alice", "test", false); err == nil || !strings.Contains(err.Error(), "moved to") {
		t.Fatalf("approval after a new commit: %v", err)
	}
	// Two at once on one target.
	p1, _ := e.svc.NewPlan(ctx, deploy.KindDeploy, "slow", "", "alice")
	p2, _ := e.svc.NewPlan(ctx, deploy.KindDeploy, "slow", c1, "bob")
	r1, err := e.svc.Approve(ctx, p1.ID, "alice", "test", false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Approve(ctx, p2.ID, "bob", "test", false)
	var busy *deploy.BusyError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), "slow is busy: run #1") || !strings.Contains(err.Error(), "by alice since") {
		t.Fatalf("second run: %v", err)
	}
	if r := e.wait(r1.ID); r.State != deploy.Succeeded {
		t.Fatalf("%+v", r)
	}
	// Second person.
	p, _ = e.svc.NewPlan(ctx, deploy.KindDeploy, "db", "", "alice")
	if _, err := e.svc.Approve(ctx, p.ID, "alice", "test", false); err == nil || !strings.Contains(err.Error(), "second person") {
		t.Fatalf("self-approval: %v", err)
	}
	if r, err := e.svc.Approve(ctx, p.ID, "bob", "test", false); err != nil || e.wait(r.ID).ApprovedBy != "bob" {
		t.Fatalf("bob's approval: %v", err)
	}
	// A force-push.
	e.origin.git("reset", "-q", "--hard", c1)
	rewritten := e.origin.commit("3", "rewritten")
	p, err = e.svc.NewPlan(ctx, deploy.KindDeploy, "slow", "", "alice")
	if err != nil || !p.Rewritten || p.To != rewritten {
		t.Fatalf("plan after a force-push: %+v %v", p, err)
	}
	if _, err := e.svc.Approve(ctx, p.ID, "alice", "test", false); err == nil || !strings.Contains(err.Error(), "rewritten (force-pushed)") {
		t.Fatalf("approval of a rewrite: %v", err)
	}
	r, err := e.svc.Approve(ctx, p.ID, "alice", "test", true)
	if err != nil || e.wait(r.ID).State != deploy.Succeeded {
		t.Fatalf("forced approval: %v", err)
	}
	// Accepted: the next plan is not a rewrite.
	if p, _ = e.svc.NewPlan(ctx, deploy.KindRollback, "slow", c1, "alice"); p.Rewritten {
		t.Fatal("still rewritten")
	}
}

// TestInterrupted: a run left running by a crash is marked interrupted at
// start-up, and its lock released.
func TestInterrupted(t *testing.T) {
	e := newEnv(t, &deploy.Target{Name: "web", Driver: deploy.Driver{Name: "command", Deploy: []string{"true"}}})
	c1 := e.origin.commit("1", "one")
	ctx := context.Background()
	crashed := &deploy.Run{Kind: deploy.KindDeploy, Target: "web", Driver: "command", To: c1, Actor: "alice", State: deploy.Running, Phase: "running", StartedAt: time.Now()}
	if err := e.store.StartRun(ctx, crashed, false); err != nil {
		t.Fatal(err)
	}
	runs, err := e.svc.Start(ctx)
	if err != nil || len(runs) != 1 || runs[0].ID != crashed.ID || runs[0].State != deploy.Interrupted {
		t.Fatalf("%+v %v", runs, err)
	}
	if r := e.deploy(deploy.KindDeploy, "web", "", "alice"); r.State != deploy.Succeeded {
		t.Fatalf("after: %+v", r)
	}
}

// TestFlakeTargets: targets read from the flake's nixosConfigurations
// with nix eval, each like the template.
func TestFlakeTargets(t *testing.T) {
	nixOrSkip(t)
	e := newEnv(t)
	e.svc.FlakeTargets = &deploy.Target{Driver: deploy.Presets["nix-run"], Timeout: time.Minute, SSH: "root@{host}.lan", Labels: map[string]string{"host": "{host}"}}
	e.origin.commit("1", "one")
	r := e.deploy(deploy.KindDeploy, "nas", "", "alice")
	if r.State != deploy.Succeeded || e.generation("nas") != "nas 1" {
		t.Fatalf("%+v\n%s", r, r.Output)
	}
	tg := e.svc.Targets["web"]
	if tg == nil || tg.SSH != "root@web.lan" || tg.Labels["host"] != "web" {
		t.Fatalf("web: %+v", tg)
	}
	if _, err := e.svc.NewPlan(context.Background(), deploy.KindDeploy, "mail", "", "alice"); err == nil || !strings.Contains(err.Error(), `no target "mail" (targets: nas, web)`) {
		t.Fatalf("mail: %v", err)
	}
}

// TestSignedCommits: with signatures required, an unsigned commit is
// refused and one signed by an allowed ssh key is deployed.
func TestSignedCommits(t *testing.T) {
	e := newEnv(t, &deploy.Target{Name: "web", Driver: deploy.Driver{Name: "command", Deploy: []string{"true"}}})
	keys := t.TempDir()
	key := filepath.Join(keys, "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "t@example.org", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	signers := filepath.Join(keys, "allowed_signers")
	os.WriteFile(signers, []byte("t@example.org "+string(pub)), 0o644)
	e.svc.Repo.RequireSigned, e.svc.Repo.AllowedSigners = true, signers
	unsigned := e.origin.commit("1", "unsigned")
	ctx := context.Background()
	if _, err := e.svc.NewPlan(ctx, deploy.KindDeploy, "web", "", "alice"); err == nil || !strings.Contains(err.Error(), "no good signature") {
		t.Fatalf("unsigned head: %v", err)
	}
	os.WriteFile(filepath.Join(e.origin.dir, "version"), []byte("2"), 0o644)
	e.origin.git("add", ".")
	e.origin.git("-c", "gpg.format=ssh", "-c", "user.signingkey="+key+".pub", "commit", "-q", "-S", "-m", "signed")
	signed := e.origin.git("rev-parse", "HEAD")
	p, err := e.svc.NewPlan(ctx, deploy.KindDeploy, "web", "", "alice")
	if err != nil || p.To != signed {
		t.Fatalf("signed head: %+v %v", p, err)
	}
	if _, err := e.svc.NewPlan(ctx, deploy.KindDeploy, "web", unsigned, "alice"); err == nil || !strings.Contains(err.Error(), "no good signature") {
		t.Fatalf("unsigned rev: %v", err)
	}
}

// TestRevertRollback: a GitOps target rolls back by pushing a commit that
// reverts the branch to the good revision, then deploying it.
func TestRevertRollback(t *testing.T) {
	e := newEnv(t, &deploy.Target{Name: "apps", Revert: true, Driver: deploy.Driver{Name: "command", Deploy: []string{"echo", "syncing", "{rev}"}}})
	e.origin.git("config", "receive.denyCurrentBranch", "updateInstead")
	c1 := e.origin.commit("1", "apps: one")
	e.deploy(deploy.KindDeploy, "apps", "", "alice")
	c2 := e.origin.commit("2", "apps: two")
	e.deploy(deploy.KindDeploy, "apps", "", "alice")
	r := e.deploy(deploy.KindRollback, "apps", "", "bob")
	head := e.origin.git("rev-parse", "HEAD")
	if r.State != deploy.Succeeded || r.Mode != deploy.ModeRevert || r.To != head || head == c1 || head == c2 ||
		!strings.Contains(r.Output, "syncing "+head) || !strings.Contains(r.Output, "reverting main to "+c1[:12]) {
		t.Fatalf("revert: %+v\n%s", r, r.Output)
	}
	if v, _ := os.ReadFile(filepath.Join(e.origin.dir, "version")); string(v) != "1" {
		t.Fatalf("the branch has version %q", v)
	}
	if parent := e.origin.git("rev-parse", "HEAD^"); parent != c2 {
		t.Fatalf("the revert's parent is %s, not the head %s", parent, c2)
	}
	if msg := e.origin.git("log", "-1", "--format=%B"); !strings.Contains(msg, "opsbot rollback #3 by bob") {
		t.Fatalf("message: %s", msg)
	}
}

// TestGroups: a group's targets are deployed one after the other, and the
// first that fails stops the rest.
func TestGroups(t *testing.T) {
	cmd := func(argv ...string) deploy.Driver { return deploy.Driver{Name: "command", Deploy: argv} }
	e := newEnv(t, &deploy.Target{Name: "a", Driver: cmd("true")}, &deploy.Target{Name: "b", Driver: cmd("false")},
		&deploy.Target{Name: "c", Driver: cmd("echo", "{host}", "{rev}")})
	e.svc.Groups = map[string][]string{"ok": {"a", "c"}, "bad": {"b", "c"}}
	c1 := e.origin.commit("1", "one")
	ctx := context.Background()
	p, err := e.svc.NewPlan(ctx, deploy.KindDeploy, "ok", "", "alice")
	if err != nil || p.Target != "ok" || len(p.Targets) != 2 || p.To != c1 {
		t.Fatalf("plan: %+v %v", p, err)
	}
	r, err := e.svc.Approve(ctx, p.ID, "alice", "test", false)
	if err != nil || r.Target != "a" || r.Group != "ok" {
		t.Fatalf("approve: %+v %v", r, err)
	}
	e.wait(r.ID)
	var second *deploy.Run
	for deadline := time.Now().Add(10 * time.Second); second == nil; time.Sleep(20 * time.Millisecond) {
		if runs, _ := e.svc.Runs(ctx, "c", 1); len(runs) == 1 {
			second = e.wait(runs[0].ID)
		} else if time.Now().After(deadline) {
			t.Fatal("c was not deployed")
		}
	}
	if second.State != deploy.Succeeded || second.Group != "ok" || !strings.Contains(second.Output, "c "+c1) {
		t.Fatalf("c: %+v\n%s", second, second.Output)
	}
	p, _ = e.svc.NewPlan(ctx, deploy.KindDeploy, "bad", c1, "alice")
	r, _ = e.svc.Approve(ctx, p.ID, "alice", "test", false)
	if r = e.wait(r.ID); r.State != deploy.Failed {
		t.Fatalf("b: %+v", r)
	}
	time.Sleep(200 * time.Millisecond)
	if runs, _ := e.svc.Runs(ctx, "c", 10); len(runs) != 1 {
		t.Fatalf("c ran after b failed: %+v", runs)
	}
	if _, err := e.svc.NewPlan(ctx, deploy.KindRollback, "ok", "", "alice"); err == nil || !strings.Contains(err.Error(), "name the revision") {
		t.Fatalf("group rollback: %v", err)
	}
}

// TestLimits: the global lock holds every target while one runs; the
// output kept is capped at its tail; an HTTP check that fails fails the
// gate.
func TestLimits(t *testing.T) {
	var unhealthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if unhealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	e := newEnv(t,
		&deploy.Target{Name: "slow", Driver: deploy.Driver{Name: "command", Deploy: []string{"sleep", "1"}}},
		&deploy.Target{Name: "loud", Driver: deploy.Driver{Name: "command", Deploy: []string{"seq", "1", "100000"}}},
		&deploy.Target{Name: "web", Driver: deploy.Driver{Name: "command", Deploy: []string{"true"}},
			Gate: deploy.Gate{Duration: 300 * time.Millisecond, Interval: 50 * time.Millisecond, HTTP: []string{srv.URL}}})
	e.svc.GlobalLock = true
	e.svc.HTTP = srv.Client()
	e.origin.commit("1", "one")
	ctx := context.Background()
	p1, _ := e.svc.NewPlan(ctx, deploy.KindDeploy, "slow", "", "alice")
	p2, _ := e.svc.NewPlan(ctx, deploy.KindDeploy, "loud", "", "bob")
	r1, err := e.svc.Approve(ctx, p1.ID, "alice", "test", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Approve(ctx, p2.ID, "bob", "test", false); err == nil || !strings.Contains(err.Error(), "slow is busy") {
		t.Fatalf("global lock: %v", err)
	}
	e.wait(r1.ID)
	r2, err := e.svc.Approve(ctx, p2.ID, "bob", "test", false)
	if err != nil {
		t.Fatal(err)
	}
	r := e.wait(r2.ID)
	if r.State != deploy.Succeeded || len(r.Output) > 64<<10+100 || !strings.HasPrefix(r.Output, "[… ") || !strings.HasSuffix(r.Output, "99999\n100000\n") {
		t.Fatalf("capped output: %d bytes, %q … %q", len(r.Output), r.Output[:60], r.Output[len(r.Output)-20:])
	}
	if r = e.deploy(deploy.KindDeploy, "web", "", "alice"); r.State != deploy.Succeeded || !strings.Contains(r.Output, "health gate passed") {
		t.Fatalf("gate: %+v\n%s", r, r.Output)
	}
	unhealthy.Store(true)
	e.origin.commit("2", "two")
	if r = e.deploy(deploy.KindDeploy, "web", "", "alice"); r.State != deploy.Failed || !strings.Contains(r.Outcome, "answered 503 Service Unavailable") {
		t.Fatalf("failing gate: %+v\n%s", r, r.Output)
	}
}
