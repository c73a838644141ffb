package incidents

import "time"

// Envelope is one message of the event stream as the reducer sees it: a
// source event or a person's command, with the time the stream stored it
// (the reducer's clock, so replaying the stream decides the same) and where
// it came from.
type Envelope struct {
	Event   *Event
	Command *Command
	At      time.Time
	Origin  string
	Seq     uint64
}

// ID is the delivery id that makes the envelope apply once.
func (e *Envelope) ID() string {
	if e.Command != nil {
		return "cmd:" + e.Command.ID
	}
	return e.Event.Source + ":" + e.Event.ID
}

// Outcome is what applying an envelope did, kept with its id so that a
// second delivery answers the same without changing anything.
type Outcome struct {
	ID         string `json:"event_id"`
	IncidentID int64  `json:"incident_id,omitempty"`
	Outcome    string `json:"outcome"`
	// Refusal is the sentence for a person when a command was refused.
	Refusal   string `json:"error,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
}
