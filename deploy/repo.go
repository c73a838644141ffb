package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Repo is opsbot's own clone of the declarative repo: a mirror under the
// data directory, fetched before each operation, with a worktree per run.
type Repo struct {
	// URL is a path or URL git can fetch; Branch the branch deploys come from.
	URL, Branch string
	// Dir holds the mirror.
	Dir string
	// Env is added to git's environment (credentials).
	Env     []string
	Timeout time.Duration
	// RequireSigned deploys only commits with a good signature: an ssh
	// signature by a key in AllowedSigners (git's allowed signers file),
	// or a GPG signature by a key in opsbot's keyring.
	RequireSigned  bool
	AllowedSigners string

	mu sync.Mutex
}

// revRE is what a person may name as a revision: a commit id, short or
// full, a tag or a branch name. Nothing that git could read as an option
// or a range, nothing a shell would expand (no shell is used anyway).
var revRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$`)

// CheckRev refuses what cannot be a revision, before git sees it.
func CheckRev(rev string) error {
	if !revRE.MatchString(rev) || strings.Contains(rev, "..") || strings.Contains(rev, "//") ||
		strings.HasSuffix(rev, "/") || strings.HasSuffix(rev, ".lock") {
		return &Refusal{fmt.Sprintf("%q is not a revision: name a commit id, a tag or a branch (letters, digits, . _ / -)", clip(rev, 60))}
	}
	return nil
}

// Refusal is an operation refused for a reason a person can act on.
type Refusal struct{ Msg string }

func (e *Refusal) Error() string { return e.Msg }

func refuse(format string, args ...any) error { return &Refusal{fmt.Sprintf(format, args...)} }

// Fetch brings the mirror up to date and returns the branch's head, and
// whether the branch's history was rewritten (force-pushed) since the
// last head opsbot accepted.
func (r *Repo) Fetch(ctx context.Context) (head string, rewritten bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := os.Stat(filepath.Join(r.Dir, "HEAD")); err != nil {
		if err := os.MkdirAll(filepath.Dir(r.Dir), 0o700); err != nil {
			return "", false, err
		}
		if _, err := r.run(ctx, "", "clone", "--quiet", "--mirror", "--", r.URL, r.Dir); err != nil {
			return "", false, fmt.Errorf("clone the repo: %w", err)
		}
	} else if _, err := r.run(ctx, r.Dir, "fetch", "--quiet", "--prune", "--", "origin"); err != nil {
		return "", false, fmt.Errorf("fetch the repo: %w", err)
	}
	out, err := r.run(ctx, r.Dir, "rev-parse", "--verify", "--end-of-options", "refs/heads/"+r.Branch+"^{commit}")
	if err != nil {
		return "", false, refuse("the repo has no branch %s", r.Branch)
	}
	head = strings.TrimSpace(out)
	seen := r.seen()
	if seen != "" && seen != head {
		if _, err := r.run(ctx, r.Dir, "merge-base", "--is-ancestor", seen, head); err != nil {
			return head, true, nil
		}
	}
	return head, false, r.accept(head)
}

// Accept records head as the branch's head opsbot knows, after a person
// confirmed a rewritten history.
func (r *Repo) Accept(head string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accept(head)
}

func (r *Repo) seenFile() string { return filepath.Join(r.Dir, "opsbot-seen-head") }

func (r *Repo) seen() string {
	b, _ := os.ReadFile(r.seenFile())
	return strings.TrimSpace(string(b))
}

func (r *Repo) accept(head string) error {
	return os.WriteFile(r.seenFile(), []byte(head+"\n"), 0o600)
}

// Resolve turns a revision into its full commit id, refusing one that is
// not on the branch. Fetch first.
func (r *Repo) Resolve(ctx context.Context, rev string) (string, error) {
	if err := CheckRev(rev); err != nil {
		return "", err
	}
	out, err := r.run(ctx, r.Dir, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return "", refuse("revision %s is not in the repo", rev)
	}
	id := strings.TrimSpace(out)
	if _, err := r.run(ctx, r.Dir, "merge-base", "--is-ancestor", id, "refs/heads/"+r.Branch); err != nil {
		return "", refuse("revision %s (%s) is not on branch %s", rev, id[:12], r.Branch)
	}
	return id, r.verify(ctx, id)
}

// verify refuses an unsigned commit when signatures are required.
func (r *Repo) verify(ctx context.Context, id string) error {
	if !r.RequireSigned {
		return nil
	}
	args := []string{"verify-commit", id}
	if r.AllowedSigners != "" {
		args = append([]string{"-c", "gpg.ssh.allowedSignersFile=" + r.AllowedSigners}, args...)
	}
	if _, err := r.run(ctx, r.Dir, args...); err != nil {
		return refuse("commit %s has no good signature by an allowed key; only signed commits are deployed", id[:12])
	}
	return nil
}

// Log lists the commits after from up to to, newest first, one line
// each, at most max; from may be empty (everything up to to).
func (r *Repo) Log(ctx context.Context, from, to string, max int) ([]string, error) {
	rng := to
	if from != "" {
		if _, err := r.run(ctx, r.Dir, "merge-base", "--is-ancestor", from, to); err != nil {
			// Going back: the commits that are undone.
			rng = to + ".." + from
		} else {
			rng = from + ".." + to
		}
	}
	out, err := r.run(ctx, r.Dir, "log", "--oneline", "--no-decorate", fmt.Sprintf("--max-count=%d", max+1), rng, "--")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	if len(lines) > max {
		lines = append(lines[:max], "…")
	}
	return lines, nil
}

// Checkout makes a worktree of rev at dir; remove removes it.
func (r *Repo) Checkout(ctx context.Context, rev, dir string) (remove func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	os.RemoveAll(dir)
	r.run(ctx, r.Dir, "worktree", "prune")
	if _, err := r.run(ctx, r.Dir, "worktree", "add", "--quiet", "--detach", "--", dir, rev); err != nil {
		return nil, fmt.Errorf("check out %s: %w", rev, err)
	}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.run(context.Background(), r.Dir, "worktree", "remove", "--force", "--", dir)
		os.RemoveAll(dir)
	}, nil
}

// Revert commits, on top of the branch head, the tree of revision good
// (undoing everything since), pushes it to the branch and returns its id.
func (r *Repo) Revert(ctx context.Context, good, dir, message string) (string, error) {
	head, rewritten, err := r.Fetch(ctx)
	if err != nil {
		return "", err
	}
	if rewritten {
		return "", refuse("the history of %s was rewritten since opsbot last saw it; not reverting on top of it", r.Branch)
	}
	remove, err := r.Checkout(ctx, head, dir)
	if err != nil {
		return "", err
	}
	defer remove()
	// The tree of good, as a new commit whose parent is the head.
	if _, err := r.run(ctx, dir, "read-tree", "--reset", "-u", good); err != nil {
		return "", fmt.Errorf("revert to %s: %w", short(good), err)
	}
	id, err := r.commitAndPush(ctx, dir, r.Branch, message, false)
	if err != nil {
		return "", fmt.Errorf("revert to %s: %w", short(good), err)
	}
	if _, _, err := r.Fetch(ctx); err != nil {
		return "", err
	}
	return id, nil
}

// CommitFile commits file of the worktree dir and pushes the commit to
// branch, with force replacing what the branch had, without only as a
// fast-forward; it returns the commit's id.
func (r *Repo) CommitFile(ctx context.Context, dir, file, branch, message string, force bool) (string, error) {
	if _, err := r.run(ctx, dir, "add", "--", file); err != nil {
		return "", err
	}
	return r.commitAndPush(ctx, dir, branch, message, force)
}

// commitAndPush commits what is staged in dir, as opsbot, and pushes it to
// branch of the repo (with force, replacing the branch).
func (r *Repo) commitAndPush(ctx context.Context, dir, branch, message string, force bool) (string, error) {
	who := []string{"-c", "user.name=opsbot", "-c", "user.email=opsbot@localhost"}
	if _, err := r.run(ctx, dir, append(who, "commit", "--quiet", "--allow-empty", "-m", message)...); err != nil {
		return "", err
	}
	out, err := r.run(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(out)
	ref := id + ":refs/heads/" + branch
	if force {
		ref = "+" + ref
	}
	if _, err := r.run(ctx, dir, "push", "--quiet", "--", r.URL, ref); err != nil {
		return "", fmt.Errorf("push to %s: %w", branch, err)
	}
	return id, nil
}

// run runs git with args, never through a shell.
func (r *Repo) run(ctx context.Context, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1"), r.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if msg == "" || !errors.As(err, &ee) {
			return "", fmt.Errorf("git %s: %w", args[0], err)
		}
		return "", fmt.Errorf("git %s: %s", args[0], clip(msg, 300))
	}
	return stdout.String(), nil
}

func short(rev string) string { return rev[:min(len(rev), 12)] }

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
