// Package drift decodes opsbot's drift hook: a host reports whether what it
// runs has drifted from the declarative repo (a git pre-push hook, a
// systemd path unit watching /etc, a nixos-rebuild dry-activate wrapper).
// Drifted triggers an alert for the host; not drifted resolves it.
package drift

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opsbot/opsbot/handlers/jsonutil"
	"github.com/opsbot/opsbot/incidents"
)

// Report is the hook's body.
type Report struct {
	// ID makes a retried report apply once; the delivery's if empty.
	ID      string `json:"id"`
	Host    string `json:"host"`
	Drifted *bool  `json:"drifted"`
	// What drifted, in a line ("/etc/nginx/nginx.conf changed").
	What string `json:"what"`
	// Diff is a short diff; longer ones are cut.
	Diff     string `json:"diff"`
	Revision string `json:"revision"`
}

// MaxDiff is how much of a diff is kept.
const MaxDiff = 16 << 10

// Source turns reports into events.
type Source struct {
	Severity incidents.Severity
	Labels   map[string]string
}

// DecodeEvents decodes a report.
func (src *Source) DecodeEvents(body []byte, delivery string) ([]*incidents.Event, error) {
	var r Report
	if err := jsonutil.Decode(body, &r); err != nil {
		return nil, err
	}
	switch {
	case r.Host == "":
		return nil, errors.New("host: is required")
	case len(r.Host) > 255:
		return nil, errors.New("host: is longer than 255 bytes")
	case r.Drifted == nil:
		return nil, errors.New("drifted: is required, true or false")
	}
	id := r.ID
	if id == "" {
		id = incidents.HashID(delivery)
	}
	ev := &incidents.Event{
		ID: id, Source: "drift", Action: incidents.Resolve, DedupKey: "drift:" + r.Host, Severity: src.Severity,
		Summary: r.Host + " is back in sync", Labels: map[string]string{"host": r.Host},
	}
	if *r.Drifted {
		ev.Action, ev.Summary = incidents.Trigger, r.Host+" has drifted"
		if r.What != "" {
			ev.Summary += ": " + r.What
		}
	}
	if r.Revision != "" {
		ev.Labels["revision"] = r.Revision
	}
	if len(r.Diff) > MaxDiff {
		r.Diff = r.Diff[:MaxDiff] + fmt.Sprintf("\n[... %d more bytes]", len(r.Diff)-MaxDiff)
	}
	if r.What != "" || r.Diff != "" {
		var err error
		if ev.Details, err = json.Marshal(map[string]string{"what": r.What, "diff": r.Diff}); err != nil {
			return nil, err
		}
	}
	ev.AddLabels(src.Labels)
	if err := ev.Validate(src.Severity); err != nil {
		return nil, err
	}
	return []*incidents.Event{ev}, nil
}
