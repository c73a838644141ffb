// Package incidents is opsbot's domain: normalized events, incidents and
// their alerts, and the rules that turn one into the other. It imports
// nothing of the project; the store persists what these rules decide.
package incidents

import (
	"encoding/json"
	"time"
)

// State is where an incident is in its life.
type State string

const (
	Triggered    State = "triggered"
	Acknowledged State = "acknowledged"
	Resolved     State = "resolved"
)

// Open reports whether the incident still needs someone.
func (s State) Open() bool { return s == Triggered || s == Acknowledged }

// Severity of an alert or an incident.
type Severity string

const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// Rank orders severities: a higher rank is more severe; 0 is unknown.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 3
	case Warning:
		return 2
	case Info:
		return 1
	}
	return 0
}

// SeverityFromRank is the inverse of Rank.
func SeverityFromRank(r int) Severity {
	switch r {
	case 3:
		return Critical
	case 2:
		return Warning
	case 1:
		return Info
	}
	return ""
}

// Valid reports whether s is one of the known severities.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// AlertStatus is whether one alert of an incident fires.
type AlertStatus string

const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// Incident is what people see and act on: one or more alerts that share a
// group key. Alerts and Timeline are filled only where a caller asked for them.
type Incident struct {
	ID             int64      `json:"id"`
	State          State      `json:"state"`
	Severity       Severity   `json:"severity"`
	Title          string     `json:"title"`
	GroupKey       string     `json:"group_key"`
	Source         string     `json:"source"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	AcknowledgedBy string     `json:"acknowledged_by"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	// ResolvedBy is who resolved it by hand; empty when its source did.
	ResolvedBy   string     `json:"resolved_by,omitempty"`
	SnoozedUntil *time.Time `json:"snoozed_until"`
	FiringAlerts int        `json:"firing_alerts"`
	// Flapping: its alerts change state more than the rules allow; people
	// are told at most once per flap window.
	Flapping bool `json:"flapping"`
	// FlapTimes are its recent state changes; FlapNotifiedAt when people
	// were last told while it flapped.
	FlapTimes      []time.Time `json:"-"`
	FlapNotifiedAt *time.Time  `json:"-"`
	// SilenceID is the Alertmanager silence of its alerts, until
	// SilencedUntil.
	SilenceID     string     `json:"silence_id,omitempty"`
	SilencedUntil *time.Time `json:"silenced_until,omitempty"`
	// StormID is the alert storm the incident opened in: the storm's digest
	// was shown instead of it.
	StormID int64 `json:"storm_id,omitempty"`
	// Held: a maintenance window kept people from being told of a change.
	Held bool `json:"held"`
	// EscalationStep counts the escalations since it was last triggered.
	EscalationStep int `json:"escalation_step"`
	// Labels are those of the alert that opened the incident.
	Labels map[string]string `json:"labels,omitempty"`
	// Firing counts firing alerts by severity rank (Severity.Rank).
	Firing   [4]int  `json:"-"`
	Alerts   []Alert `json:"alerts,omitempty"`
	Timeline []Entry `json:"timeline,omitempty"`
}

// Alert is one deduplicated signal (one dedup key) inside an incident.
type Alert struct {
	DedupKey  string            `json:"dedup_key"`
	Status    AlertStatus       `json:"status"`
	Severity  Severity          `json:"severity"`
	Summary   string            `json:"summary"`
	Labels    map[string]string `json:"labels"`
	Details   json.RawMessage   `json:"details,omitempty"`
	Links     []Link            `json:"links,omitempty"`
	StartsAt  time.Time         `json:"starts_at"`
	EndsAt    *time.Time        `json:"ends_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// Entry is one row of an incident's timeline: who did what, from where, when.
type Entry struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Actor  string    `json:"actor"`
	Origin string    `json:"origin"`
	Detail string    `json:"detail"`
}

// Timeline entry kinds.
const (
	KindOpened         = "opened"
	KindReopened       = "reopened"
	KindAlertFiring    = "alert_firing"
	KindAlertResolved  = "alert_resolved"
	KindSeverity       = "severity_changed"
	KindResolved       = "resolved"
	KindAcknowledged   = "acknowledged"
	KindUnacknowledged = "unacknowledged"
	KindSnoozed        = "snoozed"
	KindComment        = "comment"
	KindEscalated      = "escalated"
	KindAckTimeout     = "ack_timeout"
	KindSnoozeEnded    = "snooze_ended"
	KindHeld           = "held"
	KindFlapping       = "flapping"
	KindSettled        = "settled"
	KindStorm          = "storm"
	KindSilenced       = "silenced"
	KindUnsilenced     = "unsilenced"
	KindReleased       = "released"
)

func ptr(t time.Time) *time.Time { return &t }

// Notice is an event recorded for people to see, never an incident.
type Notice struct {
	ID         int64             `json:"id"`
	EventID    string            `json:"event_id"`
	Source     string            `json:"source"`
	DedupKey   string            `json:"dedup_key"`
	Severity   Severity          `json:"severity"`
	Summary    string            `json:"summary"`
	Labels     map[string]string `json:"labels"`
	Details    json.RawMessage   `json:"details,omitempty"`
	Links      []Link            `json:"links,omitempty"`
	OccurredAt time.Time         `json:"occurred_at"`
	At         time.Time         `json:"at"`
}
