// Package alertmanager decodes Alertmanager's webhook (payload version 4)
// and turns each alert into a normalized event.
package alertmanager

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/handlers/jsonutil"
	"github.com/opsbot/opsbot/incidents"
)

// Message is Alertmanager's webhook payload, version 4
// (notify/webhook/webhook.go). Fields newer releases add are ignored.
type Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a webhook message.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Source turns webhook messages into events.
type Source struct {
	// GroupBy: empty uses Alertmanager's groupKey as the group key.
	GroupBy         []string
	SeverityLabel   string
	Severities      map[string]string
	DefaultSeverity incidents.Severity
	// Labels are added to every event that lacks them.
	Labels map[string]string
}

// MaxAlertsPerMessage bounds one webhook; Alertmanager's max_alerts can keep it under.
const MaxAlertsPerMessage = 1000

// Decode parses and checks a webhook body.
func Decode(body []byte) (*Message, error) {
	var m Message
	if err := jsonutil.Decode(body, &m); err != nil {
		return nil, err
	}
	if err := check(&m); err != nil {
		return nil, err
	}
	return &m, nil
}

// DecodeEvents decodes a webhook body and turns it into events: what the
// HTTP hook does, and what the reducer does with a raw payload from NATS.
// Its ids come from the alerts themselves; delivery is not needed.
func (src *Source) DecodeEvents(body []byte, _ string) ([]*incidents.Event, error) {
	m, err := Decode(body)
	if err != nil {
		return nil, err
	}
	return src.Events(m)
}

// check says what is wrong with a decoded message, nil if nothing.
func check(m *Message) error {
	switch {
	case m.Version != "4":
		return fmt.Errorf("version: must be \"4\" (Alertmanager's webhook payload), not %q", m.Version)
	case m.Status != "firing" && m.Status != "resolved":
		return fmt.Errorf("status: must be \"firing\" or \"resolved\", not %q", m.Status)
	case m.GroupKey == "":
		return errors.New("groupKey: is required")
	case len(m.GroupKey) > incidents.MaxKeyLen:
		return fmt.Errorf("groupKey: is longer than %d bytes", incidents.MaxKeyLen)
	case len(m.Alerts) == 0:
		return errors.New("alerts: is empty")
	case len(m.Alerts) > MaxAlertsPerMessage:
		return fmt.Errorf("alerts: more than %d alerts in one message (set max_alerts on the receiver)", MaxAlertsPerMessage)
	}
	for i, a := range m.Alerts {
		switch {
		case a.Status != "firing" && a.Status != "resolved":
			return fmt.Errorf("alerts[%d].status: must be \"firing\" or \"resolved\", not %q", i, a.Status)
		case len(a.Labels) == 0:
			return fmt.Errorf("alerts[%d].labels: is empty", i)
		case a.StartsAt.IsZero():
			return fmt.Errorf("alerts[%d].startsAt: is required", i)
		case len(a.Fingerprint) > 64:
			return fmt.Errorf("alerts[%d].fingerprint: is longer than 64 bytes", i)
		}
	}
	return nil
}

// Events turns a message into one event per alert. An event's id is a hash
// of the alert's firing period and status, so a retried or repeated
// notification yields the same ids and is applied once.
func (src *Source) Events(m *Message) ([]*incidents.Event, error) {
	evs := make([]*incidents.Event, 0, len(m.Alerts))
	for i := range m.Alerts {
		a := &m.Alerts[i]
		fp := a.Fingerprint
		if fp == "" {
			fp = fingerprint(a.Labels)
		}
		ev := &incidents.Event{
			Source:   "alertmanager",
			Action:   incidents.Trigger,
			DedupKey: fp,
			GroupKey: src.groupKey(m, a),
			Severity: src.severity(a.Labels),
			Summary:  summary(a),
			Labels:   limitLabels(a.Labels),
		}
		ev.OccurredAt = a.StartsAt.UTC()
		if a.Status == "resolved" {
			ev.Action = incidents.Resolve
			if !a.EndsAt.IsZero() && a.EndsAt.Year() > 1 {
				ev.OccurredAt = a.EndsAt.UTC()
			}
		}
		buf := append(append(make([]byte, 0, 64), fp...), 0)
		buf = append(append(buf, a.Status...), 0)
		buf = strconv.AppendInt(append(strconv.AppendInt(buf, a.StartsAt.UnixNano(), 10), 0), a.EndsAt.UnixNano(), 10)
		h := sha256.Sum256(buf)
		ev.ID = hex.EncodeToString(h[:16])
		if len(a.Annotations) > 0 {
			d, err := json.Marshal(details{Annotations: a.Annotations, Receiver: m.Receiver})
			if err != nil {
				return nil, err
			}
			if len(d) <= incidents.MaxDetails {
				ev.Details = d
			}
		}
		if a.GeneratorURL != "" && len(a.GeneratorURL) <= incidents.MaxKeyLen {
			ev.Links = append(ev.Links, incidents.Link{Href: a.GeneratorURL, Text: "source"})
		}
		if u := a.Annotations["runbook_url"]; u != "" && len(u) <= incidents.MaxKeyLen {
			ev.Links = append(ev.Links, incidents.Link{Href: u, Text: "runbook"})
		}
		ev.AddLabels(src.Labels)
		if err := ev.Validate(src.DefaultSeverity); err != nil {
			return nil, fmt.Errorf("alerts[%d]: %w", i, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// details are what an event keeps of an alert beyond its labels.
type details struct {
	Annotations map[string]string `json:"annotations"`
	Receiver    string            `json:"receiver,omitempty"`
}

func (src *Source) groupKey(m *Message, a *Alert) string {
	if len(src.GroupBy) == 0 {
		return m.GroupKey
	}
	var b strings.Builder
	b.WriteString("alertmanager:{")
	for i, l := range src.GroupBy {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l + "=" + strconv.Quote(a.Labels[l]))
	}
	b.WriteByte('}')
	return b.String()
}

func (src *Source) severity(labels map[string]string) incidents.Severity {
	if v, ok := src.Severities[strings.ToLower(labels[src.SeverityLabel])]; ok {
		return incidents.Severity(v)
	}
	return src.DefaultSeverity
}

func summary(a *Alert) string {
	for _, k := range []string{"summary", "title", "description", "message"} {
		if s := strings.TrimSpace(a.Annotations[k]); s != "" {
			return s
		}
	}
	s := a.Labels["alertname"]
	if s == "" {
		s = "alert"
	}
	for _, k := range []string{"instance", "job", "namespace", "pod"} {
		if v := a.Labels[k]; v != "" {
			return s + " on " + v
		}
	}
	return s
}

// limitLabels keeps at most incidents.MaxLabels labels, the first by name,
// and drops values too long to keep.
func limitLabels(l map[string]string) map[string]string {
	if len(l) <= incidents.MaxLabels {
		ok := true
		for k, v := range l {
			if k == "" || len(k) > incidents.MaxLabelLen || len(v) > incidents.MaxLabelLen {
				ok = false
			}
		}
		if ok {
			return l
		}
	}
	keys := make([]string, 0, len(l))
	for k, v := range l {
		if k != "" && len(k) <= incidents.MaxLabelLen && len(v) <= incidents.MaxLabelLen {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make(map[string]string, incidents.MaxLabels)
	for _, k := range keys[:min(len(keys), incidents.MaxLabels)] {
		out[k] = l[k]
	}
	return out
}

// fingerprint stands in for Alertmanager's when a sender leaves it out.
func fingerprint(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := fnv.New64a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0xff})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}
