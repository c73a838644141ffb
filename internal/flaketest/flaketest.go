// Package flaketest makes the git repositories of an offline flake for
// tests: a declarative repo (hosts web and db) whose input pkgs holds
// packages named like a NixOS system's (a kernel, an initrd, k3s, a
// systemd unit), so nix flake update, builds and diff-closures are real.
package flaketest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// NixConfig is the NIX_CONFIG under which nix works offline here.
const NixConfig = "experimental-features = nix-command flakes\nsandbox = false\nsubstituters ="

// Nix skips the test without nix (fails it where real components are
// required) and sets NIX_CONFIG.
func Nix(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nix"); err != nil {
		if os.Getenv("OPSBOT_REQUIRE_REAL") != "" {
			t.Fatal("nix is not installed (apt-get install nix-bin)")
		}
		t.Skip("nix is not installed; scripts/test.sh installs it")
	}
	t.Setenv("NIX_CONFIG", NixConfig)
}

// Git runs git in dir as a test author.
func Git(t *testing.T, dir string, args ...string) string {
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

// Commit writes files in the repo dir and commits them.
func Commit(t *testing.T, dir string, files map[string]string, msg string) string {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Git(t, dir, "add", ".")
	Git(t, dir, "commit", "-q", "-m", msg)
	return Git(t, dir, "rev-parse", "HEAD")
}

func source(t *testing.T, name string) string {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Repos are the test's repositories.
type Repos struct {
	// Host is the declarative repo (it takes pushes to its checked-out
	// branch); Pkgs and Tools its inputs.
	Host, Pkgs, Tools string
}

// Versions are what the pkgs input holds.
const (
	V1 = `{"kernel": "6.1.1", "k3s": "1.28.1", "hello": "2.12", "nginxUnitBytes": 10240}`
	V2 = `{"kernel": "6.1.2", "k3s": "1.28.2", "hello": "2.12", "nginxUnitBytes": 40960}`
)

// New makes the repositories, the host flake locked to pkgs at V1.
func New(t *testing.T) *Repos {
	t.Helper()
	dir := t.TempDir()
	r := &Repos{Host: filepath.Join(dir, "host"), Pkgs: filepath.Join(dir, "pkgs"), Tools: filepath.Join(dir, "tools")}
	for _, d := range []string{r.Host, r.Pkgs, r.Tools} {
		os.MkdirAll(d, 0o755)
		Git(t, d, "init", "-q", "-b", "main")
	}
	Commit(t, r.Pkgs, map[string]string{"flake.nix": source(t, "pkgs/flake.nix"), "versions.json": V1}, "v1")
	Commit(t, r.Tools, map[string]string{"flake.nix": `{ outputs = { self }: { }; }`}, "tools")
	flake := strings.NewReplacer("@PKGS@", r.Pkgs, "@TOOLS@", r.Tools).Replace(source(t, "host/flake.nix"))
	Commit(t, r.Host, map[string]string{"flake.nix": flake}, "hosts")
	lock := exec.Command("nix", "flake", "lock")
	lock.Dir = r.Host
	if out, err := lock.CombinedOutput(); err != nil {
		t.Fatalf("nix flake lock: %v\n%s", err, out)
	}
	Commit(t, r.Host, nil, "flake.lock")
	Git(t, r.Host, "config", "receive.denyCurrentBranch", "updateInstead")
	return r
}

// Bump moves pkgs to V2: a new kernel, k3s and nginx unit.
func (r *Repos) Bump(t *testing.T) string {
	return Commit(t, r.Pkgs, map[string]string{"versions.json": V2}, "v2")
}
