package incidents

import (
	"errors"
	"fmt"
	"time"
)

// Verb is a human action on an incident.
type Verb string

const (
	Ack     Verb = "ack"
	Unack   Verb = "unack"
	Close   Verb = "resolve"
	Comment Verb = "comment"
	Snooze  Verb = "snooze"
	// SilenceAlerts records a silence of the incident's alerts made in
	// Alertmanager (its id in Text); Unsilence records its expiry.
	SilenceAlerts Verb = "silence"
	Unsilence     Verb = "unsilence"
	// Fire is a timer going off; only opsbot's timer loop sends it.
	Fire Verb = "fire"
	// Release ends a maintenance window's hold on an incident; only
	// opsbot's timer loop sends it, the window's id in Window.
	Release Verb = "release"
)

// Verbs lists every verb, in the order help texts show them.
var Verbs = []Verb{Ack, Unack, Close, Comment, Snooze, SilenceAlerts, Unsilence}

// Command is a person's action on an incident. Like a source event it goes
// through the stream and the one reducer; ID makes it apply once.
type Command struct {
	ID         string        `json:"id"`
	IncidentID int64         `json:"incident_id"`
	Verb       Verb          `json:"verb"`
	Actor      string        `json:"actor"`
	Origin     string        `json:"origin"`
	Text       string        `json:"text,omitempty"`
	Duration   time.Duration `json:"duration,omitempty"`
	// Timer and DueAt name the timer a Fire command is for.
	Timer TimerKind `json:"timer,omitempty"`
	DueAt time.Time `json:"due_at,omitzero"`
	// Window is the maintenance window a Release command ends.
	Window int64 `json:"window,omitempty"`
}

// ErrNotFound is returned for an incident that does not exist.
var ErrNotFound = errors.New("not found")

// NotFoundError names the incident that was not found; it matches ErrNotFound.
type NotFoundError struct{ ID int64 }

func (e *NotFoundError) Error() string   { return fmt.Sprintf("incident #%d does not exist", e.ID) }
func (e *NotFoundError) Is(t error) bool { return t == ErrNotFound }

// ErrConflict is returned for an action the incident's state does not allow.
var ErrConflict = errors.New("conflict")

// ConflictError says, for a person, why an action cannot be done now.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string   { return e.Msg }
func (e *ConflictError) Is(t error) bool { return t == ErrConflict }

func conflict(format string, args ...any) error {
	return &ConflictError{Msg: fmt.Sprintf(format, args...)}
}

// Validate checks a command's own fields; Check checks it against an incident.
func (c *Command) Validate(maxSnooze time.Duration) error {
	if c.ID == "" || len(c.ID) > MaxIDLen {
		return invalid("id", "is required, at most %d bytes", MaxIDLen)
	}
	if c.IncidentID <= 0 {
		return invalid("incident_id", "must be a positive number")
	}
	if c.Actor == "" || len(c.Actor) > MaxSummaryLen || len(c.Origin) > MaxSummaryLen {
		return invalid("actor", "is required, at most %d bytes", MaxSummaryLen)
	}
	if len(c.Text) > MaxTextLen {
		return invalid("text", "is longer than %d bytes", MaxTextLen)
	}
	switch c.Verb {
	case Ack, Unack, Close:
	case Comment:
		if c.Text == "" {
			return invalid("text", "a comment needs text")
		}
	case Fire:
		if c.Timer != Escalate && c.Timer != AckTimeout && c.Timer != SnoozeEnd && c.Timer != FlapSettle && c.Timer != StormEnd {
			return invalid("timer", "unknown timer %q", c.Timer)
		}
	case SilenceAlerts:
		if c.Text == "" || c.Duration <= 0 {
			return invalid("duration", "a silence needs a positive duration such as 2h")
		}
	case Unsilence:
	case Release:
		if c.Window <= 0 {
			return invalid("window", "a release names its maintenance window")
		}
	case Snooze:
		if c.Duration <= 0 {
			return invalid("duration", "a snooze needs a positive duration such as 30m or 2h")
		}
		if maxSnooze > 0 && c.Duration > maxSnooze {
			return invalid("duration", "is longer than the longest snooze allowed, %s", maxSnooze)
		}
	default:
		return invalid("verb", "unknown action %q", c.Verb)
	}
	return nil
}

// Check reports whether inc's state allows the command, as a sentence a
// person can act on.
func (c *Command) Check(inc *Incident) error {
	switch c.Verb {
	case Ack:
		switch inc.State {
		case Acknowledged:
			return conflict("incident #%d is already acknowledged by %s", inc.ID, inc.AcknowledgedBy)
		case Resolved:
			return conflict("incident #%d is already resolved", inc.ID)
		}
	case Unack:
		switch inc.State {
		case Triggered:
			return conflict("incident #%d is not acknowledged", inc.ID)
		case Resolved:
			return conflict("incident #%d is already resolved", inc.ID)
		}
	case Fire, Release:
		return nil // one that no longer applies changes nothing
	case SilenceAlerts:
		if inc.State == Resolved {
			return conflict("incident #%d is already resolved", inc.ID)
		}
	case Unsilence:
		if inc.SilenceID == "" {
			return conflict("incident #%d has no silence", inc.ID)
		}
	case Close, Snooze:
		if inc.State == Resolved {
			return conflict("incident #%d is already resolved", inc.ID)
		}
	}
	return nil
}
