package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/deploy"
)

// originRepo makes the declarative repo: the offline flake, at version v.
func originRepo(t *testing.T) (dir string, commit func(version, msg string) string) {
	dir = filepath.Join(t.TempDir(), "origin")
	os.MkdirAll(dir, 0o755)
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	flake, err := os.ReadFile("../../deploy/testdata/flake/flake.nix")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "flake.nix"), flake, 0o644)
	return dir, func(version, msg string) string {
		os.WriteFile(filepath.Join(dir, "version"), []byte(version), 0o644)
		git("add", ".")
		git("commit", "-q", "-m", msg)
		return git("rev-parse", "HEAD")
	}
}

// TestDeploy: with the CLI and the API, deploy the offline flake with real
// nix; an alert that fires in Debian's Alertmanager during the health gate
// fails it and the deploy is rolled back by itself, on the record and on
// the alert's incident; a restart of opsbot during a run interrupts it
// and releases its lock.
func TestDeploy(t *testing.T) {
	if _, err := exec.LookPath("nix"); err != nil {
		if os.Getenv("OPSBOT_REQUIRE_REAL") != "" {
			t.Fatal("nix is not installed")
		}
		t.Skip("nix is not installed")
	}
	t.Setenv("NIX_CONFIG", "experimental-features = nix-command flakes\nsandbox = false\nsubstituters =")
	profiles := t.TempDir()
	t.Setenv("DEPLOY_PROFILES", profiles)
	origin, commit := originRepo(t)
	c1 := commit("1", "web: version 1")
	amAddr := freePort(t)
	dir := t.TempDir()
	config := writeConfig(t, dir, fmt.Sprintf(`alertmanager:
  url: http://%s
sources:
  alertmanager:
    group_by: [host]
repo:
  url: %s
deploy:
  targets:
    - name: web
      driver: nix-run
      labels: {host: web}
      auto_rollback: true
      gate:
        duration: 4s
        interval: 200ms
        alert_matchers: ['host="web"']
    - name: slow
      driver: command
      command: [sleep, "60"]
`, amAddr, origin))
	p := start(t, config)
	am := startAlertmanagerAt(t, p.url, amAddr)
	generation := func() string {
		b, _ := os.ReadFile(filepath.Join(profiles, "web"))
		return strings.TrimSpace(string(b))
	}

	out, code := p.cli("deploy", "web", "--yes")
	if code != 0 || !contains(out, "plan 1: deploy web from (nothing deployed by opsbot yet) to "+c1[:12], "web: version 1",
		"deployed web /nix/store/", "run #1 succeeded") || generation() != "web 1" {
		t.Fatalf("first deploy (%d): %s", code, out)
	}
	// Without --yes it asks, and "n" runs nothing.
	commit("2", "web: version 2")
	cmd := exec.Command(binary, "deploy", "web", "--server", p.url)
	cmd.Env = append(os.Environ(), "OPSBOT_TOKEN="+e2eToken)
	cmd.Stdin = strings.NewReader("n\n")
	if b, _ := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 1 || !contains(string(b), "Deploy web to", "not approved; nothing was run") {
		t.Fatalf("declined: %s", b)
	}

	// The second deploy: an alert fires during its gate.
	cmd = exec.Command(binary, "deploy", "web", "--yes", "--server", p.url)
	cmd.Env = append(os.Environ(), "OPSBOT_TOKEN="+e2eToken, "OPSBOT_ACTOR=alice")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the health gate", func() bool {
		r, err := p.client().Run(t.Context(), 2)
		return err == nil && r.Phase == "health gate"
	})
	postAlerts(t, am, []amAlert{{Labels: map[string]string{"alertname": "HostDown", "host": "web", "severity": "critical"}, StartsAt: time.Now().UTC()}})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the deploy did not end:\n%s", buf.String())
	}
	out = buf.String()
	if cmd.ProcessState.ExitCode() != 1 || !contains(out, "--- health gate", "health gate failed: alert firing: HostDown{host=web,severity=critical}",
		"run #2 rolled_back", "rolling back to "+c1[:12], "following the automatic rollback, run #3", "run #3 succeeded") {
		t.Fatalf("deploy with a failing gate (%d):\n%s", cmd.ProcessState.ExitCode(), out)
	}
	if generation() != "web 1" {
		t.Fatalf("after the rollback the host runs %q", generation())
	}
	runs, err := p.client().Runs(t.Context(), "web", 10)
	if err != nil || len(runs) != 3 || runs[0].Kind != deploy.KindAutoRollback || runs[0].To != c1 || runs[0].ParentID != 2 ||
		runs[1].State != deploy.RolledBack || runs[1].Actor != "alice" {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	if out, _ = p.cli("deploys"); !contains(out, "#3", "auto-rollback", "succeeded", "#2", "rolled_back", "alice") {
		t.Fatalf("deploys: %s", out)
	}
	if out, _ = p.cli("deploy-log", "2"); !contains(out, "run #2: deploy of web", "maintenance window #", "health gate failed") {
		t.Fatalf("deploy-log: %s", out)
	}
	// The alert's incident: held by the run's maintenance window, and
	// told about the run.
	waitFor(t, 30*time.Second, "the rollback on the incident's timeline", func() bool {
		out, _ = p.cli("incidents", "show", "1")
		return contains(out, "auto-rollback #3 of web to "+c1[:12]+": nix succeeded")
	})
	if !contains(out, "maintenance") {
		t.Fatalf("incident:\n%s", out)
	}

	// A restart during a run: interrupted, the lock released.
	if out, code = p.cli("deploy", "slow", "--yes", "--follow=false"); code != 0 || !contains(out, "run #4: deploy of slow") {
		t.Fatalf("slow (%d): %s", code, out)
	}
	if out, code = p.cli("deploy", "slow", c1[:8], "--yes"); code != 1 || !contains(out, "slow is busy: run #4") {
		t.Fatalf("second deploy of slow (%d): %s", code, out)
	}
	p.cmd.Process.Kill()
	<-p.done
	p = start(t, config)
	if !strings.Contains(p.log(), "a run was interrupted by opsbot stopping") {
		t.Fatalf("log:\n%s", p.log())
	}
	r, err := p.client().Run(t.Context(), 4)
	if err != nil || r.State != deploy.Interrupted {
		t.Fatalf("after the restart: %+v %v", r, err)
	}
	if out, code = p.cli("deploy", "slow", "--yes", "--follow=false"); code != 0 || !contains(out, "run #5") {
		t.Fatalf("after the restart (%d): %s", code, out)
	}
	out, _ = p.cli("audit")
	if !contains(out, "deploy plan", "deploy approve", "alice") {
		t.Fatalf("audit: %s", out)
	}
}
