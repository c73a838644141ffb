package incidents

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Rules are the configurable incident rules the reducer applies.
type Rules struct {
	// ReopenWindow: a re-fire this soon after the incident resolved reopens
	// it; later, a new incident opens.
	ReopenWindow time.Duration
	// MaxSnooze bounds a snooze; 0 means no bound.
	MaxSnooze time.Duration
	// DefaultSeverity is given to events that name none.
	DefaultSeverity Severity
	// AckTimeout: acknowledged and not resolved this long, an incident is
	// triggered again; 0: never.
	AckTimeout time.Duration
	// Escalation[i] is how long an unacknowledged incident stays at step
	// i before step i+1; RepeatEscalation repeats the last delay.
	Escalation       []time.Duration
	RepeatEscalation bool
	// More than FlapChanges state changes within FlapWindow make an
	// incident flapping; 0 never.
	FlapChanges int
	FlapWindow  time.Duration
	// More than StormOpens incidents opening within StormWindow are an
	// alert storm: one digest is shown instead of them; 0 never.
	StormOpens  int
	StormWindow time.Duration
}

// DefaultRules are the rules of DESIGN.md.
func DefaultRules() Rules {
	return Rules{ReopenWindow: 30 * time.Minute, MaxSnooze: 7 * 24 * time.Hour, DefaultSeverity: Warning}
}

// View is what the store knows of an event's group when the event arrives.
type View struct {
	// Incident is the newest incident with the event's group key, nil if
	// none; its Alerts are not loaded.
	Incident *Incident
	// Alert is the event's alert (by dedup key) in Incident, nil if none.
	Alert *Alert
}

// others counts inc's firing alerts other than a, by severity rank.
func others(inc *Incident, a *Alert) [4]int {
	if inc == nil {
		return [4]int{}
	}
	c := inc.Firing
	if a != nil && a.Status == AlertFiring && c[a.Severity.Rank()] > 0 {
		c[a.Severity.Rank()]--
	}
	return c
}

func total(c [4]int) int { return c[0] + c[1] + c[2] + c[3] }

func highest(c [4]int) Severity {
	for r := 3; r > 0; r-- {
		if c[r] > 0 {
			return SeverityFromRank(r)
		}
	}
	return ""
}

// Change is what one event or command decided. The store writes it in the
// transaction that records the event as applied.
type Change struct {
	// Outcome says in a word what happened ("opened", "ignored: ...").
	Outcome string
	// Incident is to be inserted (ID 0) or updated; nil writes nothing.
	Incident *Incident
	// Alert is to be inserted or updated in Incident.
	Alert *Alert
	// ResolveAlerts marks every firing alert of Incident resolved.
	ResolveAlerts bool
	Timeline      []Entry
	// Notice is to be recorded.
	Notice *Notice
	// Timers of Incident to set or clear.
	Timers []TimerChange
	// Quiet: people are not told of this change (a snoozed incident).
	Quiet bool
	// OnlyShown: only targets that show the incident already are told.
	OnlyShown bool
}

func ignored(format string, args ...any) Change {
	return Change{Outcome: "ignored: " + fmt.Sprintf(format, args...)}
}

// ApplyEvent decides what a source event does to its group, at time at (the
// time the event was stored), coming from origin.
func (r Rules) ApplyEvent(v View, ev *Event, at time.Time, origin string) Change {
	when := ev.OccurredAt
	if when.IsZero() {
		when = at
	}
	entry := func(kind, detail string) Entry {
		return Entry{At: at, Kind: kind, Actor: ev.Source, Origin: origin, Detail: detail}
	}
	switch ev.Action {
	case Record:
		return Change{Outcome: "recorded", Notice: &Notice{
			EventID: ev.ID, Source: ev.Source, DedupKey: ev.DedupKey, Severity: ev.Severity, Summary: ev.Summary,
			Labels: ev.Labels, Details: ev.Details, Links: ev.Links, OccurredAt: when, At: at,
		}}
	case Resolve:
		return r.resolveAlert(v, ev, at, when, entry)
	}

	// A trigger for a firing period that already ended is a late retry.
	if a := v.Alert; a != nil && a.Status == AlertResolved && a.EndsAt != nil && !when.After(*a.EndsAt) {
		return ignored("alert %s already ended at %s", ev.DedupKey, a.EndsAt.Format(time.RFC3339))
	}
	var ch Change
	inc, alert, counts := cloneIncident(v.Incident), cloneAlert(v.Alert), others(v.Incident, v.Alert)
	if inc != nil && inc.State == Resolved {
		if inc.ResolvedAt != nil && at.Sub(*inc.ResolvedAt) <= r.ReopenWindow {
			inc.State = Triggered
			inc.ResolvedAt, inc.AcknowledgedAt, inc.SnoozedUntil = nil, nil, nil
			inc.AcknowledgedBy, inc.ResolvedBy = "", ""
			ch.Outcome = "reopened"
			ch.Timeline = append(ch.Timeline, entry(KindReopened, "re-fired within "+r.ReopenWindow.String()+" of resolving"))
		} else {
			inc, alert, counts = nil, nil, [4]int{}
		}
	}
	if inc == nil {
		inc = &Incident{
			State: Triggered, Severity: ev.Severity, Title: ev.Summary, GroupKey: ev.GroupKey,
			Source: ev.Source, CreatedAt: at, Labels: ev.Labels,
		}
		ch.Outcome = "opened"
		ch.Timeline = append(ch.Timeline, entry(KindOpened, ev.Summary))
	}
	if alert != nil && alert.Status == AlertFiring {
		if alert.Severity == ev.Severity && alert.Summary == ev.Summary && maps.Equal(alert.Labels, ev.Labels) &&
			bytes.Equal(alert.Details, ev.Details) && slices.Equal(alert.Links, ev.Links) {
			return ignored("alert %s is already firing", ev.DedupKey)
		}
	} else {
		alert = &Alert{DedupKey: ev.DedupKey, StartsAt: when}
		ch.Timeline = append(ch.Timeline, entry(KindAlertFiring, ev.Summary))
	}
	alert.Status, alert.Severity, alert.Summary, alert.Labels = AlertFiring, ev.Severity, ev.Summary, ev.Labels
	alert.Details, alert.Links, alert.EndsAt, alert.UpdatedAt = ev.Details, ev.Links, nil, at
	if ch.Outcome == "" {
		ch.Outcome = "updated"
	}
	sev := ev.Severity
	if m := highest(counts); m.Rank() > sev.Rank() {
		sev = m
	}
	if inc.ID != 0 && sev != inc.Severity {
		ch.Timeline = append(ch.Timeline, entry(KindSeverity, fmt.Sprintf("%s -> %s", inc.Severity, sev)))
	}
	counts[ev.Severity.Rank()]++
	inc.Severity, inc.Firing, inc.FiringAlerts, inc.UpdatedAt = sev, counts, total(counts), at
	ch.Incident, ch.Alert = inc, alert
	if ch.Outcome == "opened" || ch.Outcome == "reopened" {
		inc.EscalationStep = 0
		ch.Timers = r.timersFor(inc, at, true)
	}
	ch.Quiet = snoozed(inc, at)
	if ch.Outcome == "reopened" {
		r.flap(inc, &ch, at)
	}
	return ch
}

func snoozed(inc *Incident, at time.Time) bool {
	return inc.SnoozedUntil != nil && at.Before(*inc.SnoozedUntil) && inc.State.Open()
}

func (r Rules) resolveAlert(v View, ev *Event, at, when time.Time, entry func(kind, detail string) Entry) Change {
	if v.Incident == nil || v.Alert == nil {
		return ignored("no alert %s to resolve", ev.DedupKey)
	}
	if v.Alert.Status == AlertResolved {
		return ignored("alert %s is already resolved", ev.DedupKey)
	}
	inc, alert, counts := cloneIncident(v.Incident), cloneAlert(v.Alert), others(v.Incident, v.Alert)
	alert.Status, alert.EndsAt, alert.UpdatedAt = AlertResolved, &when, at
	ch := Change{Outcome: "updated", Incident: inc, Alert: alert}
	ch.Timeline = append(ch.Timeline, entry(KindAlertResolved, alert.Summary))
	inc.Firing, inc.FiringAlerts, inc.UpdatedAt = counts, total(counts), at
	if inc.FiringAlerts == 0 {
		if inc.State.Open() {
			inc.State, inc.ResolvedAt, inc.SnoozedUntil = Resolved, ptr(at), nil
			ch.Outcome = "resolved"
			ch.Timeline = append(ch.Timeline, entry(KindResolved, "all alerts resolved"))
			ch.Timers = r.timersFor(inc, at, false)
			r.flap(inc, &ch, at)
		}
		ch.Quiet = ch.Quiet || snoozed(inc, at)
		return ch
	}
	if m := highest(counts); m != inc.Severity && m.Valid() {
		ch.Timeline = append(ch.Timeline, entry(KindSeverity, fmt.Sprintf("%s -> %s", inc.Severity, m)))
		inc.Severity = m
	}
	ch.Quiet = snoozed(inc, at)
	return ch
}

// ApplyCommand decides what a person's command does to inc at time at. An
// error is a sentence for that person, and nothing changes.
func (r Rules) ApplyCommand(inc *Incident, c *Command, at time.Time) (Change, error) {
	if err := c.Validate(r.MaxSnooze); err != nil {
		return Change{}, err
	}
	if err := c.Check(inc); err != nil {
		return Change{}, err
	}
	inc = cloneIncident(inc)
	inc.UpdatedAt = at
	ch := Change{Incident: inc}
	add := func(kind, detail string) {
		ch.Timeline = append(ch.Timeline, Entry{At: at, Kind: kind, Actor: c.Actor, Origin: c.Origin, Detail: detail})
	}
	switch c.Verb {
	case Ack:
		inc.State, inc.AcknowledgedBy, inc.AcknowledgedAt = Acknowledged, c.Actor, ptr(at)
		add(KindAcknowledged, c.Text)
		ch.Outcome = "acknowledged"
		ch.Timers = r.timersFor(inc, at, false)
	case Unack:
		inc.State, inc.AcknowledgedBy, inc.AcknowledgedAt, inc.EscalationStep = Triggered, "", nil, 0
		add(KindUnacknowledged, c.Text)
		ch.Outcome = "unacknowledged"
		ch.Timers = r.timersFor(inc, at, true)
	case Close:
		inc.State, inc.ResolvedAt, inc.SnoozedUntil, inc.FiringAlerts, inc.Firing = Resolved, ptr(at), nil, 0, [4]int{}
		inc.ResolvedBy = c.Actor
		ch.ResolveAlerts = true
		add(KindResolved, c.Text)
		ch.Outcome = "resolved"
		ch.Timers = r.timersFor(inc, at, false)
	case Comment:
		add(KindComment, c.Text)
		ch.Outcome, ch.Quiet = "commented", true
	case Snooze:
		until := at.Add(c.Duration)
		inc.SnoozedUntil = &until
		detail := fmt.Sprintf("for %s, until %s", c.Duration, until.UTC().Format(time.RFC3339))
		if c.Text != "" {
			detail += ": " + c.Text
		}
		add(KindSnoozed, detail)
		ch.Outcome = "snoozed"
		// No escalation while snoozed; it resumes when the snooze ends.
		ch.Timers = []TimerChange{{Kind: SnoozeEnd, DueAt: until}, {Kind: Escalate}}
	case SilenceAlerts:
		until := at.Add(c.Duration)
		inc.SilenceID, inc.SilencedUntil = c.Text, &until
		add(KindSilenced, fmt.Sprintf("in Alertmanager until %s (silence %s)", until.UTC().Format(time.RFC3339), c.Text))
		ch.Outcome, ch.Quiet = "silenced", true
	case Unsilence:
		add(KindUnsilenced, "silence "+inc.SilenceID+" expired")
		inc.SilenceID, inc.SilencedUntil = "", nil
		ch.Outcome, ch.Quiet = "unsilenced", true
	case Fire:
		return r.ApplyTimer(inc, c.Timer, at), nil
	case Release:
		return r.Release(inc, c.Window, at), nil
	}
	return ch, nil
}

func cloneIncident(i *Incident) *Incident {
	if i == nil {
		return nil
	}
	c := *i
	c.Alerts, c.Timeline = nil, nil
	return &c
}

func cloneAlert(a *Alert) *Alert {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}
