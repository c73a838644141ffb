package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/silences"
)

// silence makes (or expires) a silence in Alertmanager first, then records
// it on the incident through the reducer.
func (s *Service) silence(ctx context.Context, c *Caller, r *Request) Reply {
	if s.Silencer == nil {
		return fail(NotConfigured, "no Alertmanager is configured (alertmanager.url) to silence alerts in")
	}
	inc, rep, ok := s.incident(ctx, r.Incident)
	if !ok {
		return rep
	}
	cmd := &incidents.Command{ID: r.ID, IncidentID: inc.ID, Verb: incidents.Verb(r.Command), Actor: c.Actor, Origin: c.Origin}
	if cmd.ID == "" {
		cmd.ID = s.NewID()
	}
	if len(r.Text) > incidents.MaxTextLen {
		return fail(Invalid, "comment: longer than %d bytes", incidents.MaxTextLen)
	}
	if cmd.Verb == incidents.Unsilence {
		if err := cmd.Check(inc); err != nil {
			return fail(Conflict, "%s", err)
		}
		if err := s.Silencer.Expire(ctx, inc.SilenceID); err != nil {
			s.Log.Error("unsilence", "incident", inc.ID, "err", err)
			return fail(Upstream, "Alertmanager did not expire the silence: %s", err)
		}
		return s.apply(ctx, cmd, false)
	}
	d, err := time.ParseDuration(r.Duration)
	if err != nil || d <= 0 || d > MaxSilence {
		return fail(Invalid, "duration: %q is not a duration from 1s to %s, such as 2h", r.Duration, MaxSilence)
	}
	cmd.Duration, cmd.Text = d, "pending"
	if err := cmd.Check(inc); err != nil {
		return fail(Conflict, "%s", err)
	}
	labels, err := silences.Matchers(inc)
	if err != nil {
		return fail(Conflict, "%s", err)
	}
	comment := r.Text
	if comment == "" {
		comment = fmt.Sprintf("opsbot incident #%d: %s", inc.ID, inc.Title)
	}
	now := s.now()
	if cmd.Text, err = s.Silencer.Silence(ctx, labels, now, now.Add(d), c.Actor, comment); err != nil {
		s.Log.Error("silence", "incident", inc.ID, "err", err)
		return fail(Upstream, "Alertmanager did not make the silence: %s", err)
	}
	return s.apply(ctx, cmd, false)
}

func (s *Service) startWindow(ctx context.Context, c *Caller, r *Request) Reply {
	if s.Windows == nil {
		return fail(NotConfigured, "maintenance windows are not served here")
	}
	d, err := time.ParseDuration(r.Duration)
	if err != nil || d <= 0 || d > MaxWindow {
		return fail(Invalid, "duration: %q is not a duration from 1s to %s, such as 2h", r.Duration, MaxWindow)
	}
	if len(r.Text) > incidents.MaxTextLen || len(r.Matchers) > 32 {
		return fail(Invalid, "comment or matchers: too long")
	}
	now := s.now().UTC()
	win := &incidents.Window{Matchers: r.Matchers, Comment: r.Text, CreatedBy: c.Actor, StartsAt: now, EndsAt: now.Add(d)}
	if err := s.Windows.CreateWindow(ctx, win); err != nil {
		var ie *incidents.InvalidError
		if errors.As(err, &ie) {
			return fail(Invalid, "%s", err)
		}
		return s.internal("start maintenance window", err)
	}
	s.Log.Info("maintenance window started", "id", win.ID, "matchers", win.Matchers, "until", win.EndsAt, "by", c.Actor)
	return Reply{Kind: Created, Window: win,
		Message: fmt.Sprintf("maintenance window #%d for %s until %s", win.ID, strings.Join(win.Matchers, " "), win.EndsAt.Format(time.RFC3339))}
}

func (s *Service) listWindows(ctx context.Context, _ *Caller, r *Request) Reply {
	if s.Windows == nil {
		return fail(NotConfigured, "maintenance windows are not served here")
	}
	if r.Since < 0 {
		return fail(Invalid, "since: a duration such as 24h (windows that ended since)")
	}
	list, err := s.Windows.Windows(ctx, s.now().Add(-r.Since))
	if err != nil {
		return s.internal("list maintenance windows", err)
	}
	return Reply{Windows: list, Message: fmt.Sprintf("%d maintenance windows", len(list))}
}

func (s *Service) endWindow(ctx context.Context, _ *Caller, r *Request) Reply {
	if s.Windows == nil {
		return fail(NotConfigured, "maintenance windows are not served here")
	}
	if r.Window < 1 {
		return fail(Invalid, "not a maintenance window id")
	}
	win, err := s.Windows.EndWindow(ctx, r.Window, s.now())
	if errors.Is(err, incidents.ErrNoWindow) {
		return fail(NotFound, "maintenance window #%d does not exist", r.Window)
	}
	if err != nil {
		return s.internal("end maintenance window", err)
	}
	return Reply{Window: &win, Message: fmt.Sprintf("maintenance window #%d ended", win.ID)}
}

func (s *Service) listAudit(ctx context.Context, _ *Caller, r *Request) Reply {
	if s.Audit == nil {
		return fail(NotConfigured, "no audit log is kept")
	}
	limit := r.Limit
	if limit == 0 {
		limit = 50
	}
	list, err := s.Audit.Audit(ctx, r.Before, limit)
	if err != nil {
		return s.internal("audit log", err)
	}
	if list == nil {
		list = []incidents.AuditEntry{}
	}
	return Reply{Audit: list, Message: fmt.Sprintf("%d audit entries", len(list))}
}

// Status is opsbot at a glance.
type Status struct {
	// Open counts open incidents by severity, and Acknowledged those of
	// them someone has acknowledged.
	Open         map[incidents.Severity]int `json:"open"`
	Acknowledged int                        `json:"acknowledged"`
	// Healthy is false with Problem when opsbot is not ready.
	Healthy bool   `json:"healthy"`
	Problem string `json:"problem,omitempty"`
	// Recent is what happened last, newest first.
	Recent []incidents.Activity `json:"recent"`
}

func (s *Service) status(ctx context.Context, _ *Caller, _ *Request) Reply {
	st := &Status{Open: map[incidents.Severity]int{}, Healthy: true}
	counts, err := s.Reader.OpenCounts(ctx)
	if err != nil {
		return s.internal("status", err)
	}
	total := 0
	for _, c := range counts {
		st.Open[c.Severity] += c.N
		total += c.N
		if c.State == incidents.Acknowledged {
			st.Acknowledged += c.N
		}
	}
	if s.Ready != nil {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := s.Ready(rctx); err != nil {
			st.Healthy, st.Problem = false, err.Error()
		}
		cancel()
	}
	if st.Recent, err = s.Reader.RecentActivity(ctx, 5); err != nil {
		return s.internal("status", err)
	}
	var parts []string
	for _, sev := range []incidents.Severity{incidents.Critical, incidents.Warning, incidents.Info} {
		if n := st.Open[sev]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, sev))
		}
	}
	msg := "no open incidents"
	if total > 0 {
		msg = fmt.Sprintf("%d open incidents (%s), %d acknowledged", total, strings.Join(parts, ", "), st.Acknowledged)
	}
	if st.Healthy {
		msg += "; opsbot is healthy"
	} else {
		msg += "; opsbot is NOT ready: " + st.Problem
	}
	return Reply{Status: st, Message: msg}
}
