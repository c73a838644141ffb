// Package report makes the scheduled upgrade report: what an upgrade of
// the flake would change and restart, the outdated container images
// (version-checker), the image updates since the last report (Diun) and
// the hosts that drift; stored, and posted to Discord (a summary and the
// whole report attached) and ntfy (a summary and a link). A report that
// cannot be made is an incident of its own, resolved by the next good one.
package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/upgrade"
)

// States of a report.
const (
	Running = "running"
	Done    = "done"
	Failed  = "failed"
)

// Report is one report.
type Report struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	CreatedAt time.Time  `json:"created_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	State     string     `json:"state"`
	Summary   string     `json:"summary"`
	Body      string     `json:"body,omitempty"`
	PlanID    int64      `json:"plan_id,omitempty"`
	Error     string     `json:"error,omitempty"`
	// Posted lists where it was posted, and Unposted where it could not be.
	Posted   []string `json:"posted,omitempty"`
	Unposted []string `json:"unposted,omitempty"`
}

// ErrNoReport is returned for a report that does not exist.
var ErrNoReport = errors.New("no such report")

// Store keeps reports.
type Store interface {
	CreateReport(ctx context.Context, r *Report) error
	UpdateReport(ctx context.Context, r *Report) error
	Report(ctx context.Context, id int64) (*Report, error)
	Reports(ctx context.Context, limit int) ([]Report, error)
	// FailUnfinishedReports marks reports a stop left running.
	FailUnfinishedReports(ctx context.Context, why string) error
}

// Sources are what the report reads besides the plan.
type Sources interface {
	ListIncidents(ctx context.Context, f incidents.Filter) (incidents.Page, error)
	Incident(ctx context.Context, id int64) (*incidents.Incident, error)
	ListNotices(ctx context.Context, f incidents.NoticeFilter) (incidents.NoticePage, error)
}

// Planner makes an upgrade plan now.
type Planner interface {
	MakeNow(ctx context.Context, actor string) (*upgrade.Plan, error)
}

// Poster is a Discord channel: a summary with the report attached.
type Poster interface {
	PostReport(ctx context.Context, title, summary, body, file string) error
}

// Pusher is an ntfy topic: a summary with a link.
type Pusher interface {
	PostReport(ctx context.Context, title, summary, link string) error
}

// Publisher stores the events of a failing (and again working) report.
type Publisher interface {
	PublishEvents(ctx context.Context, evs []*incidents.Event, origin string) error
}

// Reporter makes reports.
type Reporter struct {
	Planner Planner
	Sources Sources
	Store   Store
	// Posters and Pushers by target name.
	Posters   map[string]Poster
	Pushers   map[string]Pusher
	Publisher Publisher
	// PublicURL links ntfy to the report (http.public_url); empty: no link.
	PublicURL string
	Log       *slog.Logger
	Now       func() time.Time

	mu   sync.Mutex
	busy bool
	wg   sync.WaitGroup
}

// Start starts a report and returns it, running; it is made in the
// background.
func (r *Reporter) Start(ctx context.Context, by string) (*Report, error) {
	rep, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	out := *rep // the caller's copy: make changes rep
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.make(context.WithoutCancel(ctx), rep, by)
	}()
	return &out, nil
}

// Run makes a report now and returns it when it is done (cron).
func (r *Reporter) Run(ctx context.Context, by string) (*Report, error) {
	rep, err := r.begin(ctx)
	if err != nil {
		return nil, err
	}
	r.make(ctx, rep, by)
	return rep, nil
}

// Wait waits for the reports being made.
func (r *Reporter) Wait() { r.wg.Wait() }

// ErrBusy is returned while a report is being made.
var ErrBusy = errors.New("a report is being made already")

func (r *Reporter) begin(ctx context.Context) (*Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy {
		return nil, ErrBusy
	}
	rep := &Report{Kind: "upgrade", CreatedAt: r.Now().UTC(), State: Running, Summary: "being made"}
	if err := r.Store.CreateReport(ctx, rep); err != nil {
		return nil, err
	}
	r.busy = true
	return rep, nil
}

func (r *Reporter) make(ctx context.Context, rep *Report, by string) {
	defer func() { r.mu.Lock(); r.busy = false; r.mu.Unlock() }()
	err := r.compose(ctx, rep, by)
	now := r.Now().UTC()
	rep.EndedAt = &now
	if err != nil {
		rep.State, rep.Error, rep.Summary = Failed, err.Error(), "the upgrade report failed: "+err.Error()
		r.Log.Error("report: failed", "report", rep.ID, "err", err)
	} else {
		rep.State = Done
		r.post(ctx, rep)
	}
	if err := r.Store.UpdateReport(context.WithoutCancel(ctx), rep); err != nil {
		r.Log.Error("report: store", "report", rep.ID, "err", err)
	}
	r.incident(ctx, rep)
}

// compose makes the report's summary and body.
func (r *Reporter) compose(ctx context.Context, rep *Report, by string) error {
	plan, err := r.Planner.MakeNow(ctx, by)
	if err != nil {
		return err
	}
	rep.PlanID = plan.ID
	if plan.State == upgrade.Failed {
		return fmt.Errorf("upgrade plan %d: %s", plan.ID, plan.Error)
	}
	var b strings.Builder
	b.WriteString(plan.Report())
	images, err := r.firing(ctx, "version-checker")
	if err != nil {
		return err
	}
	since := time.Time{}
	if prev, err := r.previous(ctx, rep.ID); err == nil && prev != nil {
		since = prev.CreatedAt
	}
	updates, err := r.imageUpdates(ctx, since)
	if err != nil {
		return err
	}
	drift, err := r.firing(ctx, "drift")
	if err != nil {
		return err
	}
	section := func(title string, lines []string, none string) {
		fmt.Fprintf(&b, "\n%s\n", title)
		if len(lines) == 0 {
			fmt.Fprintf(&b, "  %s\n", none)
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	section("Outdated container images (version-checker)", images, "none")
	section("Image updates since the last report (Diun)", updates, "none")
	section("Hosts that drift from the repo", drift, "none")
	rep.Body = b.String()
	rep.Summary = fmt.Sprintf("%s. %d outdated images, %d image updates, %d drifting.", plan.Summary(), len(images), len(updates), len(drift))
	return nil
}

func (r *Reporter) previous(ctx context.Context, id int64) (*Report, error) {
	list, err := r.Store.Reports(ctx, 20)
	if err != nil {
		return nil, err
	}
	for _, x := range list {
		if x.ID < id && x.State == Done {
			return &x, nil
		}
	}
	return nil, nil
}

// open lists the open incidents of a source.
func (r *Reporter) open(ctx context.Context, source string) ([]*incidents.Incident, error) {
	page, err := r.Sources.ListIncidents(ctx, incidents.Filter{States: []incidents.State{incidents.Triggered, incidents.Acknowledged}, Limit: 500})
	if err != nil {
		return nil, err
	}
	var out []*incidents.Incident
	for i := range page.Incidents {
		if page.Incidents[i].Source == source {
			inc, err := r.Sources.Incident(ctx, page.Incidents[i].ID)
			if err != nil {
				return nil, err
			}
			out = append(out, inc)
		}
	}
	return out, nil
}

// firing lists the firing alerts of the open incidents of a source:
// outdated images (version-checker), drifting hosts (drift).
func (r *Reporter) firing(ctx context.Context, source string) ([]string, error) {
	incs, err := r.open(ctx, source)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, inc := range incs {
		for _, a := range inc.Alerts {
			if a.Status == incidents.AlertFiring {
				out = append(out, a.Summary)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func (r *Reporter) imageUpdates(ctx context.Context, since time.Time) ([]string, error) {
	page, err := r.Sources.ListNotices(ctx, incidents.NoticeFilter{Source: "diun", Limit: 500})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range page.Notices {
		if n.At.After(since) {
			out = append(out, n.Summary)
		}
	}
	return out, nil
}

// post posts a report everywhere; what fails is noted on it.
func (r *Reporter) post(ctx context.Context, rep *Report) {
	title := fmt.Sprintf("Upgrade report %d, %s", rep.ID, rep.CreatedAt.Format("2006-01-02"))
	note := func(name string, err error) {
		if err != nil {
			r.Log.Warn("report: post", "report", rep.ID, "target", name, "err", err)
			rep.Unposted = append(rep.Unposted, name)
			return
		}
		rep.Posted = append(rep.Posted, name)
	}
	for _, name := range sortedKeys(r.Posters) {
		note(name, r.Posters[name].PostReport(ctx, title, rep.Summary, rep.Body, fmt.Sprintf("upgrade-report-%d.txt", rep.ID)))
	}
	link := ""
	if r.PublicURL != "" {
		link = fmt.Sprintf("%s/api/v1/reports/%d", strings.TrimSuffix(r.PublicURL, "/"), rep.ID)
	}
	for _, name := range sortedKeys(r.Pushers) {
		note(name, r.Pushers[name].PostReport(ctx, title, rep.Summary, link))
	}
}

// incident triggers the report's incident when it failed, and resolves it
// when it worked.
func (r *Reporter) incident(ctx context.Context, rep *Report) {
	if r.Publisher == nil {
		return
	}
	action, summary := incidents.Resolve, "the upgrade report works again"
	if rep.State == Failed {
		action, summary = incidents.Trigger, clip("the upgrade report failed: "+rep.Error, 300)
	}
	ev := &incidents.Event{ID: fmt.Sprintf("report-%d-%s", rep.ID, action), Source: "opsbot", Action: action, DedupKey: "report:upgrade",
		GroupKey: "report:upgrade", Severity: incidents.Warning, Summary: summary, Labels: map[string]string{"report": "upgrade"}}
	if err := ev.Validate(incidents.Warning); err != nil {
		r.Log.Error("report: incident", "err", err)
		return
	}
	if err := r.Publisher.PublishEvents(context.WithoutCancel(ctx), []*incidents.Event{ev}, "upgrade report"); err != nil {
		r.Log.Error("report: incident", "err", err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
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
