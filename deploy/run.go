package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// live is a run in progress: its output so far and who follows it.
type live struct {
	mu      sync.Mutex
	run     Run
	out     []byte
	cut     int // bytes dropped from the front
	version int
	changed chan struct{} // closed and replaced on every change
}

func (l *live) update(f func(r *Run)) {
	l.mu.Lock()
	f(&l.run)
	l.bump()
	l.mu.Unlock()
}

func (l *live) bump() {
	l.version++
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *live) write(line string, limit int) {
	l.mu.Lock()
	l.out = append(l.out, line...)
	l.out = append(l.out, '\n')
	if over := len(l.out) - limit; over > 0 {
		l.out = l.out[over:]
		l.cut += over
	}
	l.bump()
	l.mu.Unlock()
}

// snapshot is the run with its output so far.
func (l *live) snapshot() (Run, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.run
	r.Output = string(l.out)
	if l.cut > 0 {
		r.Output = fmt.Sprintf("[… %d bytes of output cut …]\n", l.cut) + r.Output
	}
	if r.State != Running {
		return r, nil
	}
	return r, l.changed
}

// begin takes the target's lock, stores the run and starts it.
func (s *Service) begin(ctx context.Context, t *Target, r *Run) error {
	r.State, r.Phase, r.StartedAt = Running, "starting", s.Now().UTC()
	if err := s.Store.StartRun(ctx, r, s.GlobalLock); err != nil {
		return err
	}
	l := &live{run: *r, changed: make(chan struct{})}
	s.mu.Lock()
	s.live[r.ID] = l
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.execute(t, l)
	}()
	return nil
}

// Follow returns the run now, and a channel closed at its next change
// (nil once it has ended).
func (s *Service) Follow(ctx context.Context, id int64) (*Run, <-chan struct{}, error) {
	s.mu.Lock()
	l := s.live[id]
	s.mu.Unlock()
	if l != nil {
		r, ch := l.snapshot()
		return &r, ch, nil
	}
	r, err := s.Store.Run(ctx, id)
	return r, nil, err
}

// SetChatRef records the chat message that follows a run, to tell it if
// a restart interrupts the run.
func (s *Service) SetChatRef(ctx context.Context, id int64, ref string) {
	s.mu.Lock()
	l := s.live[id]
	s.mu.Unlock()
	if l != nil {
		l.mu.Lock()
		l.run.ChatRef = ref
		l.mu.Unlock()
	}
	if err := s.Store.SetRunChatRef(ctx, id, ref); err != nil {
		s.Log.Error("deploy: record the chat message", "run", id, "err", err)
	}
}

// Runs lists the runs of a target (empty: of all), newest first.
func (s *Service) Runs(ctx context.Context, target string, limit int) ([]Run, error) {
	if target != "" {
		if _, err := s.target(ctx, target); err != nil {
			return nil, err
		}
	}
	return s.Store.Runs(ctx, target, limit)
}

// execute runs the driver, then the gate, then a rollback if the gate
// fails and the target wants one.
func (s *Service) execute(t *Target, l *live) {
	ctx := s.ctx
	r := l.run
	var window int64
	if s.Windows != nil && len(t.Labels) > 0 {
		w := &incidents.Window{Matchers: matchers(t.Labels), CreatedBy: "opsbot deploy",
			Comment: fmt.Sprintf("%s #%d of %s to %s", r.Kind, r.ID, r.Target, short(r.To)), StartsAt: r.StartedAt,
			EndsAt: r.StartedAt.Add(t.Timeout + t.Gate.Duration + 10*time.Minute)}
		if err := s.Windows.CreateWindow(ctx, w); err != nil {
			s.Log.Error("deploy: maintenance window", "run", r.ID, "err", err)
		} else {
			window = w.ID
			l.write(fmt.Sprintf("[opsbot] maintenance window #%d holds the notifications of %s", w.ID, strings.Join(w.Matchers, " ")), s.OutputLimit)
		}
	}
	s.note(t, fmt.Sprintf("%s #%d of %s to %s started by %s", r.Kind, r.ID, r.Target, short(r.To), r.Actor))

	// What the run printed so far is stored every few seconds, for a crash.
	saved := make(chan struct{})
	stopSaving := make(chan struct{})
	go func() {
		defer close(saved)
		for {
			select {
			case <-stopSaving:
				return
			case <-time.After(2 * time.Second):
				snap, _ := l.snapshot()
				if err := s.Store.UpdateRun(context.WithoutCancel(ctx), &snap); err != nil {
					s.Log.Warn("deploy: store the run's progress", "run", r.ID, "err", err)
				}
			}
		}
	}()
	state, outcome, status := s.deploy(ctx, t, l)
	if state == Succeeded {
		if failure := s.gate(ctx, t, l, r.StartedAt); failure != "" {
			state, outcome = Failed, "the health gate failed: "+failure
		}
	}
	if ctx.Err() != nil {
		state, outcome = Interrupted, "interrupted: opsbot stopped during the run"
	}
	var rollback *Run
	if state == Failed && t.AutoRollback && r.Kind == KindDeploy && r.From != "" && ctx.Err() == nil {
		state = RolledBack
		rollback = &Run{Kind: KindAutoRollback, Target: r.Target, Driver: r.Driver, From: r.To, To: r.From,
			Actor: "opsbot", Origin: fmt.Sprintf("the failed %s #%d", r.Kind, r.ID), ParentID: r.ID}
		switch {
		case t.Revert:
			rollback.Mode = ModeRevert
		case len(t.Driver.Rollback) > 0:
			rollback.Mode = ModeRollbackCommand
		}
		outcome += "; rolling back to " + short(r.From)
	}
	close(stopSaving)
	<-saved
	now := s.Now().UTC()
	l.update(func(x *Run) {
		x.State, x.Phase, x.Outcome, x.ExitStatus, x.EndedAt = state, "done", outcome, status, &now
	})
	final, _ := l.snapshot()
	if err := s.Store.UpdateRun(context.WithoutCancel(ctx), &final); err != nil {
		s.Log.Error("deploy: store the run", "run", r.ID, "err", err)
	}
	s.mu.Lock()
	delete(s.live, r.ID)
	s.mu.Unlock()
	s.Log.Info("deploy: run ended", "run", r.ID, "target", r.Target, "kind", r.Kind, "to", short(r.To), "state", state, "outcome", outcome)
	s.note(t, fmt.Sprintf("%s #%d of %s to %s: %s", r.Kind, r.ID, r.Target, short(r.To), outcome))
	if rollback != nil {
		// The lock passes from the failed deploy to its rollback.
		if err := s.begin(context.WithoutCancel(ctx), t, rollback); err != nil {
			s.Log.Error("deploy: automatic rollback", "run", r.ID, "err", err)
		}
	}
	if window != 0 {
		if _, err := s.Windows.EndWindow(context.WithoutCancel(ctx), window, s.Now()); err != nil {
			s.Log.Error("deploy: end the maintenance window", "window", window, "err", err)
		}
	}
}

func (s *Service) note(t *Target, text string) {
	if s.Note != nil && len(t.Labels) > 0 {
		s.Note(context.WithoutCancel(s.ctx), t.Labels, text)
	}
}

func matchers(labels map[string]string) []string {
	out := make([]string, 0, len(labels))
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// deploy runs the driver at the run's revision.
func (s *Service) deploy(ctx context.Context, t *Target, l *live) (state, outcome string, status *int) {
	r := l.run
	argv := t.Driver.Deploy
	vars := Vars{Host: t.Host, Rev: r.To, SSH: t.SSH}
	if r.Mode == ModeRollbackCommand {
		argv, vars.Rev = t.Driver.Rollback, ""
	}
	if r.Mode == ModeRevert {
		// GitOps: the branch itself goes back, in a commit of its own.
		l.update(func(x *Run) { x.Phase = "reverting the branch to " + short(r.To) })
		id, err := s.Repo.Revert(ctx, r.To, filepath.Join(s.WorkDir, fmt.Sprintf("revert-%d", r.ID)),
			fmt.Sprintf("Revert %s to %s\n\nopsbot %s #%d by %s.", r.Target, short(r.To), r.Kind, r.ID, r.Actor))
		if err != nil {
			return Failed, err.Error(), nil
		}
		l.write(fmt.Sprintf("[opsbot] pushed %s reverting %s to %s", short(id), s.Repo.Branch, short(r.To)), s.OutputLimit)
		l.update(func(x *Run) { x.To = id })
		r.To, vars.Rev = id, id
	}
	switch t.Driver.Kind {
	case DriverArgoCD, DriverFlux:
		if s.Kube == nil {
			return Failed, "no Kubernetes cluster is configured (kube.kubeconfig)", nil
		}
		if t.Driver.Kind == DriverArgoCD {
			state, outcome = s.argoSync(ctx, t, l, vars.Rev)
		} else {
			state, outcome = s.fluxReconcile(ctx, t, l, vars.Rev)
		}
		return state, outcome, nil
	}
	if vars.Rev != "" && containsPlaceholder(argv, "{repo_dir}") {
		l.update(func(x *Run) { x.Phase = "checking out " + short(r.To) })
		dir := filepath.Join(s.WorkDir, fmt.Sprintf("run-%d", r.ID))
		remove, err := s.Repo.Checkout(ctx, r.To, dir)
		if err != nil {
			return Failed, err.Error(), nil
		}
		defer remove()
		vars.RepoDir = dir
	}
	args, err := Expand(argv, vars)
	if err != nil {
		return Failed, err.Error(), nil
	}
	l.update(func(x *Run) { x.Phase = "running " + args[0] })
	l.write("[opsbot] $ "+strings.Join(args, " "), s.OutputLimit)
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = vars.RepoDir
	cmd.Env = append(os.Environ(), "OPSBOT_TARGET="+t.Name, "OPSBOT_REV="+r.To, "OPSBOT_RUN="+fmt.Sprint(r.ID))
	// Its own process group, so a stop ends what it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		return Failed, fmt.Sprintf("%s did not start: %v", args[0], err), nil
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l.write(s.Scrub.Line(sc.Text()), s.OutputLimit)
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Wait()
	pw.Close()
	<-read
	code := cmd.ProcessState.ExitCode()
	status = &code
	var ee *exec.ExitError
	switch {
	case err == nil:
		return Succeeded, fmt.Sprintf("%s succeeded", args[0]), status
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return Failed, fmt.Sprintf("%s took longer than %s and was stopped", args[0], t.Timeout), status
	case errors.As(err, &ee):
		return Failed, fmt.Sprintf("%s failed with exit status %d", args[0], code), status
	default:
		return Failed, fmt.Sprintf("%s failed: %v", args[0], err), status
	}
}

func containsPlaceholder(argv []string, p string) bool {
	for _, a := range argv {
		if strings.Contains(a, p) {
			return true
		}
	}
	return false
}

// gate watches the target for the gate's duration and returns why it
// failed, "" if it passed.
func (s *Service) gate(ctx context.Context, t *Target, l *live, since time.Time) string {
	g := t.Gate
	if g.Duration <= 0 || (len(g.AlertMatchers) == 0 && len(g.HTTP) == 0 && len(g.Nodes) == 0) {
		return ""
	}
	l.update(func(x *Run) { x.Phase = "health gate" })
	l.write(fmt.Sprintf("[opsbot] health gate: %s", g.Duration), s.OutputLimit)
	end := s.Now().Add(g.Duration)
	for {
		if why := s.check(ctx, t, since); why != "" {
			l.write("[opsbot] health gate failed: "+why, s.OutputLimit)
			return why
		}
		if !s.Now().Before(end) {
			l.write("[opsbot] health gate passed", s.OutputLimit)
			return ""
		}
		select {
		case <-ctx.Done():
			return "interrupted"
		case <-time.After(min(g.Interval, time.Until(end)+time.Millisecond)):
		}
	}
}

func (s *Service) check(ctx context.Context, t *Target, since time.Time) string {
	if len(t.Gate.Nodes) > 0 && s.Kube != nil {
		if why := s.nodesReady(ctx, t.Gate.Nodes); why != "" {
			return why
		}
	}
	if len(t.Gate.AlertMatchers) > 0 && s.Alerts != nil {
		firing, err := s.Alerts.Firing(ctx, t.Gate.AlertMatchers, since)
		if err != nil {
			return "cannot ask Alertmanager: " + err.Error()
		}
		if len(firing) > 0 {
			return "alert firing: " + strings.Join(firing, "; ")
		}
	}
	for _, u := range t.Gate.HTTP {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, _ := http.NewRequestWithContext(cctx, http.MethodGet, u, nil)
		hc := s.HTTP
		if hc == nil {
			hc = http.DefaultClient
		}
		resp, err := hc.Do(req)
		cancel()
		if err != nil {
			return fmt.Sprintf("%s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Sprintf("%s answered %s", u, resp.Status)
		}
	}
	return ""
}

func (s *Service) groupName(members []string) string {
	for name, m := range s.Groups {
		if slices.Equal(m, members) {
			return name
		}
	}
	return strings.Join(members, ",")
}

// runGroup deploys a group's other targets one after the other, each
// once the one before has succeeded (its gate passed); it stops at the
// first that did not.
func (s *Service) runGroup(p *Plan, first *Run) {
	prev := first
	for _, name := range p.Targets[1:] {
		if r := s.await(s.ctx, prev.ID); r == nil || r.State != Succeeded {
			s.Log.Warn("deploy: group stopped", "group", p.Target, "at", prev.Target, "run", prev.ID)
			return
		}
		ctx := s.ctx
		t, err := s.target(ctx, name)
		if err != nil {
			s.Log.Error("deploy: group", "group", p.Target, "target", name, "err", err)
			return
		}
		r := &Run{Kind: p.Kind, Target: name, Driver: t.Driver.Name, To: p.To, Actor: p.RequestedBy, ApprovedBy: first.ApprovedBy,
			Origin: fmt.Sprintf("group %s, after run #%d", p.Target, prev.ID), Group: p.Target}
		if r.From, err = s.Store.Deployed(ctx, name, 0); err == nil {
			err = s.begin(ctx, t, r)
		}
		if err != nil {
			s.Log.Error("deploy: group", "group", p.Target, "target", name, "err", err)
			return
		}
		prev = r
	}
}

// await waits for a run to end; nil when ctx ends or opsbot stops first.
func (s *Service) await(ctx context.Context, id int64) *Run {
	for {
		r, ch, err := s.Follow(s.ctx, id)
		if err != nil {
			return nil
		}
		if ch == nil {
			return r
		}
		select {
		case <-ch:
		case <-s.ctx.Done():
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// RunNow deploys rev to a target without a plan (its approval was given
// for something larger, such as an upgrade), and returns the run when it
// has ended, its gate included.
func (s *Service) RunNow(ctx context.Context, target, rev, actor, origin string) (*Run, error) {
	t, err := s.target(ctx, target)
	if err != nil {
		return nil, err
	}
	from, err := s.Store.Deployed(ctx, t.Name, 0)
	if err != nil {
		return nil, err
	}
	r := &Run{Kind: KindDeploy, Target: t.Name, Driver: t.Driver.Name, From: from, To: rev, Actor: actor, ApprovedBy: actor, Origin: origin}
	if err := s.begin(ctx, t, r); err != nil {
		return nil, err
	}
	if end := s.await(ctx, r.ID); end != nil {
		return end, nil
	}
	return nil, errors.New("stopped while waiting for the run")
}
