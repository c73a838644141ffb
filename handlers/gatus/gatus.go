// Package gatus decodes the body opsbot documents for Gatus's custom alert
// provider (alerting/provider/custom). Gatus does not escape its
// placeholders, and [RESULT_ERRORS] often holds quotes, so the body is one
// key=value per line, errors last (anything up to the end of its line):
//
//	state=[ALERT_TRIGGERED_OR_RESOLVED]
//	group=[ENDPOINT_GROUP]
//	name=[ENDPOINT_NAME]
//	url=[ENDPOINT_URL]
//	description=[ALERT_DESCRIPTION]
//	errors=[RESULT_ERRORS]
//
// A JSON object with the same keys is accepted too.
package gatus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opsbot/opsbot/handlers/jsonutil"
	"github.com/opsbot/opsbot/incidents"
)

// Alert is what one body says.
type Alert struct {
	State       string `json:"state"`
	Group       string `json:"group"`
	Name        string `json:"name"`
	URL         string `json:"url"`
	Description string `json:"description"`
	Errors      string `json:"errors"`
}

// Source turns bodies into events.
type Source struct {
	Severity incidents.Severity
	// GroupBy is "group" or "endpoint".
	GroupBy string
	Labels  map[string]string
}

// Parse reads a body in either form.
func Parse(body []byte) (*Alert, error) {
	var a Alert
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '{' {
		if err := jsonutil.Decode(body, &a); err != nil {
			return nil, err
		}
	} else {
		for i, line := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: want key=value, as in state=[ALERT_TRIGGERED_OR_RESOLVED]", i+1)
			}
			v = strings.TrimSpace(v)
			switch strings.TrimSpace(k) {
			case "state":
				a.State = v
			case "group":
				a.Group = v
			case "name":
				a.Name = v
			case "url":
				a.URL = v
			case "description":
				a.Description = v
			case "errors":
				a.Errors = v
			}
		}
	}
	// A Gatus without a placeholder (older ones have no [RESULT_ERRORS])
	// leaves it as it is.
	for _, f := range []*string{&a.Group, &a.URL, &a.Description, &a.Errors} {
		if placeholder(*f) {
			*f = ""
		}
	}
	switch {
	case a.State != "TRIGGERED" && a.State != "RESOLVED":
		return nil, fmt.Errorf("state: must be TRIGGERED or RESOLVED (the placeholder [ALERT_TRIGGERED_OR_RESOLVED]), not %q", a.State)
	case a.Name == "":
		return nil, errors.New("name: is required (the placeholder [ENDPOINT_NAME])")
	case placeholder(a.Name):
		return nil, fmt.Errorf("name: %s is a placeholder Gatus did not fill in", a.Name)
	}
	return &a, nil
}

// DecodeEvents decodes a body. Gatus sends no time or id, so an event's id
// is the delivery's: a repeated state changes nothing anyway.
func (src *Source) DecodeEvents(body []byte, delivery string) ([]*incidents.Event, error) {
	a, err := Parse(body)
	if err != nil {
		return nil, err
	}
	endpoint := a.Name
	if a.Group != "" {
		endpoint = a.Group + "/" + a.Name
	}
	ev := &incidents.Event{
		ID: incidents.HashID(delivery), Source: "gatus", Action: incidents.Trigger, Severity: src.Severity,
		DedupKey: "gatus:" + endpoint, Summary: endpoint + " is failing",
		Labels: map[string]string{"endpoint": a.Name},
	}
	ev.GroupKey = ev.DedupKey
	if src.GroupBy == "group" && a.Group != "" {
		ev.GroupKey = "gatus:group:" + a.Group
	}
	if a.Group != "" {
		ev.Labels["group"] = a.Group
	}
	if a.State == "RESOLVED" {
		ev.Action, ev.Summary = incidents.Resolve, endpoint+" is healthy again"
	} else if a.Description != "" {
		ev.Summary += ": " + a.Description
	}
	if a.URL != "" {
		ev.Labels["url"] = a.URL
		if strings.HasPrefix(a.URL, "http://") || strings.HasPrefix(a.URL, "https://") {
			ev.Links = []incidents.Link{{Href: a.URL, Text: "endpoint"}}
		}
	}
	if a.Errors != "" || a.Description != "" {
		if ev.Details, err = json.Marshal(map[string]string{"errors": a.Errors, "description": a.Description}); err != nil {
			return nil, err
		}
	}
	ev.AddLabels(src.Labels)
	if err := ev.Validate(src.Severity); err != nil {
		return nil, err
	}
	return []*incidents.Event{ev}, nil
}

// placeholder reports whether s is an unfilled Gatus placeholder.
func placeholder(s string) bool {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return false
	}
	for _, c := range s[1 : len(s)-1] {
		if !('A' <= c && c <= 'Z' || c == '_') {
			return false
		}
	}
	return true
}
