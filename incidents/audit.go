package incidents

import "time"

// AuditEntry records an action someone took or tried.
type AuditEntry struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// Actor is who (a token's name, a person), Via how (api, button, chat).
	Actor   string `json:"actor"`
	Via     string `json:"via"`
	Command string `json:"command"`
	Target  string `json:"target,omitempty"`
	// Allowed is false for an attempt its author was not allowed to make.
	Allowed bool   `json:"allowed"`
	Result  string `json:"result"`
}
