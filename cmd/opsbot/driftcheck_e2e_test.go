package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// TestDriftCheck runs the scheduled drift check against a real git
// repository, with hosts whose "revision command" prints what a file says.
func TestDriftCheck(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "infra")
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.org", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.org")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	commit := func(msg string) string {
		os.WriteFile(filepath.Join(repo, "flake.lock"), []byte(msg), 0o644)
		git("add", ".")
		git("commit", "-q", "-m", msg)
		return git("rev-parse", "HEAD")
	}
	os.MkdirAll(repo, 0o755)
	git("init", "-q", "-b", "main")
	old := commit("nixpkgs 2026-11-01")
	head := commit("nixpkgs 2026-11-15")
	rev := func(host, content string) {
		if err := os.WriteFile(filepath.Join(dir, host+"-rev"), []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rev("nas", old)
	rev("pi", head+"-dirty")
	config := writeConfig(t, dir, fmt.Sprintf(`checks:
  drift:
    enabled: true
    schedule: "@every 1s"
    repo: %s
    branch: main
    timeout: 10s
    hosts:
      - name: nas
        revision: [cat, %s]
      - name: pi
        revision: [cat, %s]
      - name: gone
        revision: [sh, -c, "echo ssh: connect to host gone port 22: No route to host >&2; exit 255"]
`, repo, filepath.Join(dir, "nas-rev"), filepath.Join(dir, "pi-rev")))
	p := start(t, config)
	alerts := func() map[string]incidents.Alert {
		m := map[string]incidents.Alert{}
		for _, i := range p.all() {
			for _, a := range i.Alerts {
				m[a.DedupKey] = a
			}
		}
		return m
	}
	waitAlerts := func(what string, ok func(map[string]incidents.Alert) bool) {
		t.Helper()
		waitFor(t, 15*time.Second, what, func() bool { return ok(alerts()) })
	}
	waitAlerts("nas behind, pi dirty, gone unreadable", func(m map[string]incidents.Alert) bool {
		nas, pi, gone := m["drift:nas:revision"], m["drift:pi:revision"], m["drift:gone:check"]
		return nas.Status == incidents.AlertFiring && nas.Summary == fmt.Sprintf("nas runs %s, 1 commits behind main (at %s)", old[:12], head[:12]) &&
			pi.Status == incidents.AlertFiring && strings.Contains(pi.Summary, "built from uncommitted changes") &&
			gone.Status == incidents.AlertFiring && strings.Contains(gone.Summary, "No route to host")
	})

	rev("nas", head)
	rev("pi", head)
	waitAlerts("nas and pi in sync", func(m map[string]incidents.Alert) bool {
		return m["drift:nas:revision"].Status == incidents.AlertResolved && m["drift:pi:revision"].Status == incidents.AlertResolved
	})
	// A new commit on the branch: the check fetches it, and nas is behind again.
	newer := commit("nixpkgs 2026-11-22")
	waitAlerts("nas behind the new commit", func(m map[string]incidents.Alert) bool {
		a := m["drift:nas:revision"]
		return a.Status == incidents.AlertFiring && strings.Contains(a.Summary, "at "+newer[:12])
	})
	// One incident per host holds its drift alerts.
	for _, i := range p.all() {
		if i.GroupKey == "drift:gone" && (len(i.Alerts) != 1 || i.Source != "drift") {
			t.Fatalf("gone: %+v", i)
		}
	}
	p.stop()
	if !contains(p.log(), "checks stopped", "reducer drained") {
		t.Fatalf("log:\n%s", p.log())
	}
}
