// Package driftcheck compares, for each configured host, the revision it
// runs (the output of an argument vector, such as
// `ssh nas nixos-version --configuration-revision`) with the declarative
// repo's branch head, and reports drift as events: behind or dirty
// triggers the host's alert, in sync resolves it, and a host whose revision
// cannot be read has an alert of its own.
package driftcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// Host is one host to check.
type Host struct {
	Name string
	// Revision is the argument vector that prints the revision the host
	// runs; "-dirty" after it means built from uncommitted changes.
	Revision []string
}

// Publisher stores events.
type Publisher interface {
	PublishEvents(ctx context.Context, evs []*incidents.Event, origin string) error
}

// Checker checks hosts against the repo.
type Checker struct {
	// Repo is a path or URL git can fetch; Branch the branch hosts follow.
	Repo, Branch string
	// Dir is where the checker keeps its mirror of the repo.
	Dir       string
	Hosts     []Host
	Timeout   time.Duration
	Severity  incidents.Severity
	Labels    map[string]string
	Publisher Publisher
	Log       *slog.Logger
	Now       func() time.Time
}

var revRE = regexp.MustCompile(`^([0-9a-f]{7,64})(-dirty)?$`)

// Check checks every host once and publishes what it found.
func (c *Checker) Check(ctx context.Context) error {
	run := c.Now().UTC().Format(time.RFC3339Nano)
	repo := func(action incidents.Action, summary string) *incidents.Event {
		return &incidents.Event{
			ID: incidents.HashID("repo", string(action), run), Source: "drift", Action: action,
			DedupKey: "drift:repo", Severity: c.Severity, Summary: summary, Labels: map[string]string{"repo": c.Repo},
		}
	}
	head, err := c.head(ctx)
	if err != nil {
		err = fmt.Errorf("drift check: %w", err)
		ev := repo(incidents.Trigger, "the drift check cannot read the repo: "+truncate(err.Error(), 300))
		if perr := c.publish(ctx, []*incidents.Event{ev}); perr != nil {
			return errors.Join(err, perr)
		}
		return err
	}
	evs := []*incidents.Event{repo(incidents.Resolve, "the drift check reads the repo again")}
	for _, h := range c.Hosts {
		evs = append(evs, c.checkHost(ctx, h, head, run)...)
	}
	return c.publish(ctx, evs)
}

func (c *Checker) publish(ctx context.Context, evs []*incidents.Event) error {
	for _, ev := range evs {
		ev.AddLabels(c.Labels)
		if err := ev.Validate(c.Severity); err != nil {
			return fmt.Errorf("drift check: %w", err)
		}
	}
	if err := c.Publisher.PublishEvents(ctx, evs, "drift check"); err != nil {
		return fmt.Errorf("drift check: %w", err)
	}
	return nil
}

func (c *Checker) checkHost(ctx context.Context, h Host, head, run string) []*incidents.Event {
	mk := func(key string, action incidents.Action, summary string) *incidents.Event {
		return &incidents.Event{
			ID: incidents.HashID(key, string(action), summary, run), Source: "drift", Action: action,
			DedupKey: key, GroupKey: "drift:" + h.Name, Severity: c.Severity, Summary: summary,
			Labels: map[string]string{"host": h.Name, "branch": c.Branch},
		}
	}
	revKey, checkKey := "drift:"+h.Name+":revision", "drift:"+h.Name+":check"
	out, err := c.output(ctx, h.Revision)
	m := revRE.FindStringSubmatch(out)
	if err == nil && m == nil {
		err = fmt.Errorf("%q is not a revision", truncate(out, 80))
	}
	if err != nil {
		c.Log.Warn("drift check: cannot read a host's revision", "host", h.Name, "err", err)
		return []*incidents.Event{mk(checkKey, incidents.Trigger, fmt.Sprintf("cannot read the revision %s runs: %v", h.Name, err))}
	}
	evs := []*incidents.Event{mk(checkKey, incidents.Resolve, "the revision "+h.Name+" runs can be read again")}
	rev, dirty := m[1], m[2] != ""
	short := func(r string) string { return r[:min(len(r), 12)] }
	var summary string
	switch {
	case dirty:
		summary = fmt.Sprintf("%s runs %s built from uncommitted changes; %s is at %s", h.Name, short(rev), c.Branch, short(head))
	case !strings.HasPrefix(head, rev):
		summary = fmt.Sprintf("%s runs %s, %s", h.Name, short(rev), c.behind(ctx, rev, head))
	}
	if summary == "" {
		return append(evs, mk(revKey, incidents.Resolve, h.Name+" runs "+c.Branch+" "+short(head)))
	}
	ev := mk(revKey, incidents.Trigger, summary)
	ev.Labels["revision"], ev.Labels["head"] = rev, head
	return append(evs, ev)
}

// behind says how far rev is from head, as well as the mirror can tell.
func (c *Checker) behind(ctx context.Context, rev, head string) string {
	n, err := c.git(ctx, "rev-list", "--count", rev+".."+head)
	if err != nil {
		return fmt.Sprintf("which is not on %s (at %s)", c.Branch, head[:min(len(head), 12)])
	}
	return fmt.Sprintf("%s commits behind %s (at %s)", strings.TrimSpace(n), c.Branch, head[:min(len(head), 12)])
}

// head fetches the repo into the mirror and returns the branch's head.
func (c *Checker) head(ctx context.Context) (string, error) {
	if _, err := os.Stat(filepath.Join(c.Dir, "HEAD")); err != nil {
		if err := os.MkdirAll(filepath.Dir(c.Dir), 0o700); err != nil {
			return "", err
		}
		if _, err := c.run(ctx, "", "git", "clone", "--quiet", "--mirror", "--", c.Repo, c.Dir); err != nil {
			return "", fmt.Errorf("clone %s: %w", c.Repo, err)
		}
	} else if _, err := c.git(ctx, "fetch", "--quiet", "--prune", "origin"); err != nil {
		return "", fmt.Errorf("fetch %s: %w", c.Repo, err)
	}
	out, err := c.git(ctx, "rev-parse", "--verify", "refs/heads/"+c.Branch+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("branch %s of %s: %w", c.Branch, c.Repo, err)
	}
	return strings.TrimSpace(out), nil
}

func (c *Checker) git(ctx context.Context, args ...string) (string, error) {
	return c.run(ctx, c.Dir, "git", args...)
}

func (c *Checker) output(ctx context.Context, argv []string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("no revision command")
	}
	out, err := c.run(ctx, "", argv[0], argv[1:]...)
	return strings.TrimSpace(out), err
}

// run runs an argument vector, never a shell, with the timeout.
func (c *Checker) run(ctx context.Context, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return "", fmt.Errorf("%s: %w: %s", name, err, truncate(msg, 200))
	}
	return stdout.String(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
