package incidents

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Action is what a source event asks for.
type Action string

const (
	Trigger Action = "trigger"
	Resolve Action = "resolve"
	// Record keeps the event as a notice, shown but never an incident: an
	// image update, a test notification, a certificate notice.
	Record Action = "notice"
)

// Event is the normalized event every source is turned into, PagerDuty-like.
// docs/events.md documents it for scripts that publish it themselves.
type Event struct {
	// ID identifies one delivery: the same ID is applied once.
	ID     string `json:"id"`
	Source string `json:"source"`
	Action Action `json:"action"`
	// DedupKey names one alert; GroupKey the incident it belongs to.
	DedupKey   string            `json:"dedup_key"`
	GroupKey   string            `json:"group_key,omitempty"`
	Severity   Severity          `json:"severity,omitempty"`
	Summary    string            `json:"summary,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Details    json.RawMessage   `json:"details,omitempty"`
	Links      []Link            `json:"links,omitempty"`
	OccurredAt time.Time         `json:"occurred_at,omitzero"`
}

// Link points somewhere useful for an alert (a graph, a runbook).
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Limits on event fields, so one event stays well under NATS's payload limit.
const (
	MaxIDLen      = 200
	MaxKeyLen     = 1024
	MaxSummaryLen = 1024
	MaxLabels     = 64
	MaxLabelLen   = 1024
	MaxDetails    = 64 << 10
	MaxLinks      = 16
	MaxTextLen    = 4096
)

// ValidSource reports whether s can name a source (and a NATS subject
// token): 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit.
func ValidSource(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '_' || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// InvalidError is bad input: it says which field and why, and changes nothing.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks an event and fills the defaults: the group key is the
// dedup key, the severity defaultSev, the summary the dedup key.
func (e *Event) Validate(defaultSev Severity) error {
	if e.ID == "" {
		return invalid("id", "is required")
	}
	if len(e.ID) > MaxIDLen {
		return invalid("id", "is longer than %d bytes", MaxIDLen)
	}
	if !ValidSource(e.Source) {
		return invalid("source", "must be 1 to 64 of a-z, 0-9, _ and -, not %q", truncate(e.Source, 80))
	}
	if e.Action != Trigger && e.Action != Resolve && e.Action != Record {
		return invalid("action", "must be %q, %q or %q, not %q", Trigger, Resolve, Record, e.Action)
	}
	if e.DedupKey == "" {
		return invalid("dedup_key", "is required")
	}
	if len(e.DedupKey) > MaxKeyLen {
		return invalid("dedup_key", "is longer than %d bytes", MaxKeyLen)
	}
	if e.GroupKey == "" {
		e.GroupKey = e.DedupKey
	}
	if len(e.GroupKey) > MaxKeyLen {
		return invalid("group_key", "is longer than %d bytes", MaxKeyLen)
	}
	if e.Severity == "" {
		e.Severity = defaultSev
	}
	if !e.Severity.Valid() {
		return invalid("severity", "must be critical, warning or info, not %q", e.Severity)
	}
	if e.Summary == "" {
		e.Summary = e.DedupKey
	}
	if len(e.Summary) > MaxSummaryLen {
		e.Summary = truncate(e.Summary, MaxSummaryLen)
	}
	if len(e.Labels) > MaxLabels {
		return invalid("labels", "has more than %d labels", MaxLabels)
	}
	for k, v := range e.Labels {
		if k == "" || len(k) > MaxLabelLen || len(v) > MaxLabelLen {
			return invalid("labels", "names must be non-empty and names and values at most %d bytes", MaxLabelLen)
		}
	}
	if len(e.Details) > MaxDetails {
		return invalid("details", "is larger than %d bytes", MaxDetails)
	}
	if len(e.Details) > 0 && !json.Valid(e.Details) {
		return invalid("details", "is not valid JSON")
	}
	if len(e.Links) > MaxLinks {
		return invalid("links", "has more than %d links", MaxLinks)
	}
	for i, l := range e.Links {
		if l.Href == "" || len(l.Href) > MaxKeyLen || len(l.Text) > MaxSummaryLen {
			return invalid(fmt.Sprintf("links[%d]", i), "needs an href of at most %d bytes", MaxKeyLen)
		}
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// HashID makes an event id from the parts that identify one delivery.
func HashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// AddLabels adds labels to ev's that it does not have.
func (e *Event) AddLabels(labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	if e.Labels == nil {
		e.Labels = make(map[string]string, len(labels))
	}
	for k, v := range labels {
		if _, ok := e.Labels[k]; !ok {
			e.Labels[k] = v
		}
	}
}
