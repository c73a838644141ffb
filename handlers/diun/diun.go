// Package diun decodes Diun's webhook notification (set its method to
// POST): one image update becomes a notice, kept for the upgrade report, or
// with Page an incident.
package diun

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opsbot/opsbot/handlers/jsonutil"
	"github.com/opsbot/opsbot/incidents"
)

// Entry is Diun's webhook body.
type Entry struct {
	DiunVersion string            `json:"diun_version"`
	Hostname    string            `json:"hostname"`
	Status      string            `json:"status"`
	Provider    string            `json:"provider"`
	Image       string            `json:"image"`
	HubLink     string            `json:"hub_link"`
	MimeType    string            `json:"mime_type"`
	Digest      string            `json:"digest"`
	Created     time.Time         `json:"created"`
	Platform    string            `json:"platform"`
	Metadata    map[string]string `json:"metadata"`
}

// Source turns entries into events.
type Source struct {
	Page     bool
	Severity incidents.Severity
	Labels   map[string]string
}

// DecodeEvents decodes a webhook body.
func (src *Source) DecodeEvents(body []byte, delivery string) ([]*incidents.Event, error) {
	var e Entry
	if err := jsonutil.Decode(body, &e); err != nil {
		return nil, err
	}
	switch {
	case e.Image == "":
		return nil, errors.New("image: is required")
	case e.Status == "":
		return nil, errors.New("status: is required (new, update, ...)")
	}
	ev := &incidents.Event{
		ID:     incidents.HashID(e.Hostname, e.Provider, e.Image, e.Digest, e.Status),
		Source: "diun", Action: incidents.Record, DedupKey: "diun:" + e.Image, Severity: incidents.Info,
		Summary: fmt.Sprintf("%s image %s", e.Status, e.Image),
		Labels:  map[string]string{"image": e.Image, "status": e.Status},
	}
	if src.Page {
		ev.Action, ev.Severity = incidents.Trigger, src.Severity
	}
	if e.Hostname != "" {
		ev.Summary += " on " + e.Hostname
	}
	for k, v := range map[string]string{"hostname": e.Hostname, "provider": e.Provider, "platform": e.Platform, "digest": e.Digest} {
		if v != "" {
			ev.Labels[k] = v
		}
	}
	if !e.Created.IsZero() {
		ev.OccurredAt = e.Created.UTC()
	}
	if e.HubLink != "" {
		ev.Links = []incidents.Link{{Href: e.HubLink, Text: "registry"}}
	}
	var err error
	if ev.Details, err = json.Marshal(e); err != nil {
		return nil, err
	}
	ev.AddLabels(src.Labels)
	if err := ev.Validate(src.Severity); err != nil {
		return nil, err
	}
	return []*incidents.Event{ev}, nil
}
