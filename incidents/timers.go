package incidents

import (
	"fmt"
	"time"
)

// TimerKind names what a timer does when it goes off.
type TimerKind string

const (
	// Escalate: still not acknowledged, the next escalation step.
	Escalate TimerKind = "escalate"
	// AckTimeout: acknowledged but not resolved for too long, back to triggered.
	AckTimeout TimerKind = "ack_timeout"
	// SnoozeEnd: the snooze is over; notify again if still open.
	SnoozeEnd TimerKind = "snooze_end"
	// FlapSettle: no change for a flap window; the incident stops flapping.
	FlapSettle TimerKind = "flap_settle"
	// StormEnd: no incident opened for a storm window; the storm's digest
	// resolves.
	StormEnd TimerKind = "storm_end"
)

// Timer is a timer of an incident: at most one of each kind.
type Timer struct {
	IncidentID int64     `json:"incident_id"`
	Kind       TimerKind `json:"kind"`
	DueAt      time.Time `json:"due_at"`
}

// TimerChange sets (DueAt not zero) or clears a timer of the changed incident.
type TimerChange struct {
	Kind  TimerKind
	DueAt time.Time
}

// timersFor are the timer changes that follow an incident's new state.
func (r Rules) timersFor(inc *Incident, at time.Time, triggered bool) []TimerChange {
	clear := func(k TimerKind) TimerChange { return TimerChange{Kind: k} }
	switch {
	case inc.State == Resolved:
		return []TimerChange{clear(Escalate), clear(AckTimeout), clear(SnoozeEnd)}
	case inc.State == Acknowledged:
		out := []TimerChange{clear(Escalate)}
		if r.AckTimeout > 0 {
			out = append(out, TimerChange{Kind: AckTimeout, DueAt: at.Add(r.AckTimeout)})
		}
		return out
	case triggered:
		out := []TimerChange{clear(AckTimeout)}
		if d, ok := r.escalationDelay(inc.EscalationStep); ok {
			out = append(out, TimerChange{Kind: Escalate, DueAt: at.Add(d)})
		}
		return out
	}
	return nil
}

// escalationDelay is how long after reaching step the next one follows.
func (r Rules) escalationDelay(step int) (time.Duration, bool) {
	switch {
	case step < len(r.Escalation):
		return r.Escalation[step], true
	case r.RepeatEscalation && len(r.Escalation) > 0:
		return r.Escalation[len(r.Escalation)-1], true
	}
	return 0, false
}

// ApplyTimer decides what a timer going off does to inc at time at. A
// timer whose condition no longer holds changes nothing.
func (r Rules) ApplyTimer(inc *Incident, kind TimerKind, at time.Time) Change {
	inc = cloneIncident(inc)
	add := func(ch *Change, k, detail string) {
		ch.Timeline = append(ch.Timeline, Entry{At: at, Kind: k, Actor: "opsbot", Origin: "timer", Detail: detail})
	}
	switch kind {
	case Escalate:
		if inc.State != Triggered {
			return ignored("incident #%d is %s: no escalation", inc.ID, inc.State)
		}
		inc.EscalationStep++
		inc.UpdatedAt = at
		ch := Change{Outcome: "escalated", Incident: inc}
		add(&ch, KindEscalated, fmt.Sprintf("not acknowledged: escalation step %d", inc.EscalationStep))
		if d, ok := r.escalationDelay(inc.EscalationStep); ok {
			ch.Timers = []TimerChange{{Kind: Escalate, DueAt: at.Add(d)}}
		}
		return ch
	case AckTimeout:
		if inc.State != Acknowledged {
			return ignored("incident #%d is %s: no ack timeout", inc.ID, inc.State)
		}
		by := inc.AcknowledgedBy
		inc.State, inc.AcknowledgedBy, inc.AcknowledgedAt, inc.EscalationStep, inc.UpdatedAt = Triggered, "", nil, 0, at
		ch := Change{Outcome: "ack timed out", Incident: inc}
		add(&ch, KindAckTimeout, fmt.Sprintf("acknowledged by %s %s ago and still not resolved", by, r.AckTimeout))
		ch.Timers = r.timersFor(inc, at, true)
		return ch
	case StormEnd:
		if inc.State == Resolved {
			return ignored("the storm of incident #%d is over", inc.ID)
		}
		inc.State, inc.ResolvedAt, inc.FiringAlerts, inc.Firing, inc.UpdatedAt = Resolved, ptr(at), 0, [4]int{}, at
		ch := Change{Outcome: "storm over", Incident: inc, ResolveAlerts: true}
		add(&ch, KindResolved, fmt.Sprintf("no incident opened for %s: the storm is over", r.StormWindow))
		ch.Timers = r.timersFor(inc, at, false)
		return ch
	case FlapSettle:
		if !inc.Flapping {
			return ignored("incident #%d is not flapping", inc.ID)
		}
		inc.Flapping, inc.FlapTimes, inc.FlapNotifiedAt, inc.UpdatedAt = false, nil, nil, at
		ch := Change{Outcome: "settled", Incident: inc}
		add(&ch, KindSettled, fmt.Sprintf("no change for %s; the incident is %s", r.FlapWindow, inc.State))
		return ch
	case SnoozeEnd:
		if !inc.State.Open() || inc.SnoozedUntil == nil {
			return ignored("incident #%d is not snoozed", inc.ID)
		}
		inc.SnoozedUntil, inc.UpdatedAt = nil, at
		ch := Change{Outcome: "snooze ended", Incident: inc}
		add(&ch, KindSnoozeEnded, "the snooze is over and the incident is still "+string(inc.State))
		ch.Timers = r.timersFor(inc, at, inc.State == Triggered)
		return ch
	}
	return ignored("unknown timer %q", kind)
}

// flap records a state change of inc's alerts at time at and decides
// whether the change is told.
func (r Rules) flap(inc *Incident, ch *Change, at time.Time) {
	if r.FlapChanges <= 0 {
		return
	}
	times := []time.Time{}
	for _, t := range inc.FlapTimes {
		if at.Sub(t) < r.FlapWindow {
			times = append(times, t)
		}
	}
	times = append(times, at)
	if len(times) > r.FlapChanges+1 {
		times = times[len(times)-r.FlapChanges-1:]
	}
	inc.FlapTimes = times
	add := func(kind, detail string) {
		ch.Timeline = append(ch.Timeline, Entry{At: at, Kind: kind, Actor: "opsbot", Origin: "flap detection", Detail: detail})
	}
	switch {
	case !inc.Flapping && len(times) > r.FlapChanges:
		inc.Flapping, inc.FlapNotifiedAt = true, ptr(at)
		add(KindFlapping, fmt.Sprintf("%d state changes within %s; told at most once per %s until it settles", len(times), r.FlapWindow, r.FlapWindow))
	case inc.Flapping && inc.FlapNotifiedAt != nil && at.Sub(*inc.FlapNotifiedAt) < r.FlapWindow:
		ch.Quiet = true
	case inc.Flapping:
		inc.FlapNotifiedAt = ptr(at)
	default:
		return
	}
	// It settles after a whole window without a change.
	ch.Timers = append(ch.Timers, TimerChange{Kind: FlapSettle, DueAt: at.Add(r.FlapWindow)})
}
