// Package uptimekuma decodes Uptime Kuma's webhook notification
// (server/notification-providers/webhook.js): {"heartbeat", "monitor", "msg"}.
// DOWN triggers, UP resolves, MAINTENANCE resolves (the monitor is down on
// purpose), PENDING is kept as a notice (the monitor is retrying), and
// messages with neither heartbeat nor monitor (test notifications,
// certificate notices) are kept as notices.
package uptimekuma

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opsbot/opsbot/handlers/jsonutil"
	"github.com/opsbot/opsbot/incidents"
)

// Heartbeat statuses.
const (
	Down        = 0
	Up          = 1
	Pending     = 2
	Maintenance = 3
)

// Message is the webhook body.
type Message struct {
	Heartbeat *Heartbeat `json:"heartbeat"`
	Monitor   *Monitor   `json:"monitor"`
	Msg       string     `json:"msg"`
}

// Heartbeat is one check result; Time is "YYYY-MM-DD HH:mm:ss.SSS" in UTC.
type Heartbeat struct {
	MonitorID *int64 `json:"monitorID"`
	Status    *int   `json:"status"`
	Time      string `json:"time"`
	Msg       string `json:"msg"`
	Important bool   `json:"important"`
}

// Monitor is the monitor the heartbeat belongs to.
type Monitor struct {
	ID       int64           `json:"id"`
	Name     string          `json:"name"`
	Type     string          `json:"type"`
	URL      string          `json:"url"`
	Hostname string          `json:"hostname"`
	Tags     json.RawMessage `json:"tags"`
}

// Source turns messages into events.
type Source struct {
	Severity incidents.Severity
	// GroupBy is "monitor" or "tag:NAME".
	GroupBy string
	Labels  map[string]string
}

// DecodeEvents decodes a webhook body (the JSON, also what form-data mode
// carries in its "data" field).
func (src *Source) DecodeEvents(body []byte, delivery string) ([]*incidents.Event, error) {
	var m Message
	if err := jsonutil.Decode(body, &m); err != nil {
		return nil, err
	}
	ev, err := src.event(&m, body)
	if err != nil {
		return nil, err
	}
	ev.AddLabels(src.Labels)
	if err := ev.Validate(src.Severity); err != nil {
		return nil, err
	}
	return []*incidents.Event{ev}, nil
}

func (src *Source) event(m *Message, body []byte) (*incidents.Event, error) {
	ev := &incidents.Event{Source: "uptime-kuma", Severity: src.Severity}
	if m.Heartbeat == nil && m.Monitor == nil {
		if strings.TrimSpace(m.Msg) == "" {
			return nil, errors.New("msg: a message with neither heartbeat nor monitor needs msg")
		}
		ev.Action, ev.DedupKey, ev.Severity, ev.Summary = incidents.Record, "uptime-kuma-notice", incidents.Info, m.Msg
		ev.ID = incidents.HashID("notice", string(body))
		return ev, nil
	}
	hb, mon := m.Heartbeat, m.Monitor
	switch {
	case hb == nil:
		return nil, errors.New("heartbeat: is required with a monitor")
	case hb.Status == nil:
		return nil, errors.New("heartbeat.status: is required")
	case *hb.Status < Down || *hb.Status > Maintenance:
		return nil, fmt.Errorf("heartbeat.status: must be 0 (down), 1 (up), 2 (pending) or 3 (maintenance), not %d", *hb.Status)
	}
	at, err := parseTime(hb.Time)
	if err != nil {
		return nil, fmt.Errorf("heartbeat.time: %w", err)
	}
	var id int64
	switch {
	case mon != nil && mon.ID != 0:
		id = mon.ID
	case hb.MonitorID != nil:
		id = *hb.MonitorID
	default:
		return nil, errors.New("monitor.id: is required (or heartbeat.monitorID)")
	}
	name := "monitor " + strconv.FormatInt(id, 10)
	ev.Labels = map[string]string{"monitor_id": strconv.FormatInt(id, 10)}
	if mon != nil {
		if mon.Name != "" {
			name = mon.Name
		}
		ev.Labels["monitor"] = name
		for k, v := range map[string]string{"type": mon.Type, "url": mon.URL, "hostname": mon.Hostname} {
			if v != "" {
				ev.Labels[k] = v
			}
		}
		for k, v := range tags(mon.Tags) {
			ev.Labels["tag_"+k] = v
		}
		if mon.URL != "" && (strings.HasPrefix(mon.URL, "http://") || strings.HasPrefix(mon.URL, "https://")) {
			ev.Links = []incidents.Link{{Href: mon.URL, Text: "monitored URL"}}
		}
	}
	ev.DedupKey = "uptime-kuma:monitor:" + strconv.FormatInt(id, 10)
	ev.GroupKey = ev.DedupKey
	if tag, ok := strings.CutPrefix(src.GroupBy, "tag:"); ok {
		if v, ok := ev.Labels["tag_"+tag]; ok {
			ev.GroupKey = "uptime-kuma:tag:" + tag + "=" + v
		}
	}
	ev.OccurredAt = at
	ev.ID = incidents.HashID(strconv.FormatInt(id, 10), strconv.Itoa(*hb.Status), hb.Time)
	msg := strings.TrimSpace(hb.Msg)
	switch *hb.Status {
	case Down:
		ev.Action, ev.Summary = incidents.Trigger, name+" is down"
		if msg != "" {
			ev.Summary += ": " + msg
		}
	case Up:
		ev.Action, ev.Summary = incidents.Resolve, name+" is up"
	case Maintenance:
		ev.Action, ev.Summary = incidents.Resolve, name+" is in maintenance"
	case Pending:
		ev.Action, ev.Severity, ev.Summary = incidents.Record, incidents.Info, name+" is pending (retrying)"
		if msg != "" {
			ev.Summary += ": " + msg
		}
	}
	return ev, nil
}

// parseTime reads Uptime Kuma's "2024-09-24 23:51:35.527" (UTC).
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2024-09-24 23:51:35.527", s)
}

// tags reads the monitor's tags, objects {name, value} in Uptime Kuma 1.x
// and 2.x; anything else is ignored.
func tags(raw json.RawMessage) map[string]string {
	var list []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &list) != nil {
		return nil
	}
	out := map[string]string{}
	for _, t := range list {
		if t.Name != "" && len(out) < 16 {
			out[strings.ToLower(t.Name)] = t.Value
		}
	}
	return out
}
