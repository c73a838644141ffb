// Package ntfy publishes incidents to an ntfy topic (ntfy's JSON publish
// API): one notification per incident, replaced on every change through its
// sequence id, with Acknowledge, Resolve and Snooze 1h buttons while it is
// open, and cleared when it resolves.
package ntfy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify"
)

// Signer makes the tokens of action buttons.
type Signer interface {
	Sign(id int64, verb incidents.Verb) string
}

// Notifier publishes to one ntfy server and topic.
type Notifier struct {
	URL, Topic string
	// Token (tk_...) or Username and Password authenticate, if set.
	Token, Username, Password string
	// PublicURL is where phones reach opsbot, for buttons and the click
	// link; none without it.
	PublicURL string
	Signer    Signer
	Client    *http.Client
	// EscalationPriority[i] is the priority from escalation step i+1 on
	// (0: unchanged).
	EscalationPriority []int
}

// Message is ntfy's JSON publish body.
type Message struct {
	Topic      string   `json:"topic"`
	Title      string   `json:"title,omitempty"`
	Message    string   `json:"message"`
	Priority   int      `json:"priority,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Click      string   `json:"click,omitempty"`
	Actions    []Action `json:"actions,omitempty"`
	SequenceID string   `json:"sequence_id,omitempty"`
}

// Action is an ntfy action button.
type Action struct {
	Action string `json:"action"`
	Label  string `json:"label"`
	URL    string `json:"url"`
	Method string `json:"method,omitempty"`
	Clear  bool   `json:"clear,omitempty"`
}

// MaxMessage is ntfy's message size limit.
const MaxMessage = 4096

// SequenceID names an incident's notification.
func SequenceID(id int64) string { return fmt.Sprintf("opsbot-incident-%d", id) }

// Render makes the message for an incident's current state.
func (n *Notifier) Render(inc *incidents.Incident) Message {
	m := Message{Topic: n.Topic, SequenceID: SequenceID(inc.ID), Title: fmt.Sprintf("#%d %s", inc.ID, inc.Title)}
	var b strings.Builder
	switch inc.State {
	case incidents.Triggered:
		fmt.Fprintf(&b, "%s, %d alert(s) firing", strings.ToUpper(string(inc.Severity)), inc.FiringAlerts)
		m.Priority = map[incidents.Severity]int{incidents.Critical: 4, incidents.Warning: 3, incidents.Info: 2}[inc.Severity]
		m.Tags = []string{map[incidents.Severity]string{incidents.Critical: "rotating_light", incidents.Warning: "warning", incidents.Info: "information_source"}[inc.Severity]}
		for i := 0; i < inc.EscalationStep && i < len(n.EscalationPriority); i++ {
			if p := n.EscalationPriority[i]; p > 0 {
				m.Priority = p
			}
		}
		if inc.EscalationStep > 0 {
			fmt.Fprintf(&b, ", escalated (step %d)", inc.EscalationStep)
			m.Tags = append(m.Tags, "loudspeaker")
		}
	case incidents.Acknowledged:
		fmt.Fprintf(&b, "acknowledged by %s, %d alert(s) firing", inc.AcknowledgedBy, inc.FiringAlerts)
		m.Priority, m.Tags = 2, []string{"eyes"}
	case incidents.Resolved:
		b.WriteString("resolved")
		m.Priority, m.Tags = 1, []string{"white_check_mark"}
	}
	if inc.SnoozedUntil != nil && inc.State.Open() {
		fmt.Fprintf(&b, ", snoozed until %s", inc.SnoozedUntil.UTC().Format("15:04 MST"))
	}
	if inc.Flapping {
		fmt.Fprintf(&b, ", FLAPPING (%d changes lately; updates are held back)", len(inc.FlapTimes))
		m.Tags = append(m.Tags, "repeat")
	}
	shown := 0
	for _, a := range inc.Alerts {
		if a.Status != incidents.AlertFiring {
			continue
		}
		if shown == 10 {
			fmt.Fprintf(&b, "\n... and %d more", inc.FiringAlerts-shown)
			break
		}
		fmt.Fprintf(&b, "\n- %s", a.Summary)
		shown++
	}
	m.Message = b.String()
	if len(m.Message) > MaxMessage {
		m.Message = m.Message[:MaxMessage-3] + "..."
	}
	if n.PublicURL != "" {
		base := strings.TrimSuffix(n.PublicURL, "/")
		m.Click = fmt.Sprintf("%s/api/v1/incidents/%d", base, inc.ID)
		if n.Signer != nil && inc.State.Open() {
			button := func(label string, verb incidents.Verb) Action {
				return Action{Action: "http", Label: label, URL: base + "/actions/" + n.Signer.Sign(inc.ID, verb), Method: "POST", Clear: true}
			}
			if inc.State == incidents.Triggered {
				m.Actions = append(m.Actions, button("Acknowledge", incidents.Ack))
			}
			m.Actions = append(m.Actions, button("Resolve", incidents.Close), button("Snooze 1h", incidents.Snooze))
		}
	}
	return m
}

// Notify publishes the incident's state; a resolved one is then cleared.
func (n *Notifier) Notify(ctx context.Context, inc *incidents.Incident) error {
	body, err := json.Marshal(n.Render(inc))
	if err != nil {
		return err
	}
	if err := n.do(ctx, http.MethodPost, strings.TrimSuffix(n.URL, "/")+"/", body, false); err != nil {
		return err
	}
	if inc.State != incidents.Resolved {
		return nil
	}
	// Servers before 2.16 know no sequence ids and answer 404: nothing to clear.
	u := fmt.Sprintf("%s/%s/%s/clear", strings.TrimSuffix(n.URL, "/"), url.PathEscape(n.Topic), SequenceID(inc.ID))
	return n.do(ctx, http.MethodPut, u, nil, true)
}

func (n *Notifier) do(ctx context.Context, method, u string, body []byte, notFoundOK bool) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return &notify.PermanentError{Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch {
	case n.Token != "":
		req.Header.Set("Authorization", "Bearer "+n.Token)
	case n.Username != "":
		req.SetBasicAuth(n.Username, n.Password)
	}
	resp, err := n.Client.Do(req)
	if err != nil {
		return fmt.Errorf("ntfy: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode/100 == 2, notFoundOK && resp.StatusCode == http.StatusNotFound:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return fmt.Errorf("ntfy %s %s: %s", method, req.URL.Path, resp.Status)
	}
	return &notify.PermanentError{Err: fmt.Errorf("ntfy %s %s: %s: %s", method, req.URL.Path, resp.Status, strings.TrimSpace(string(msg)))}
}

// PostReport publishes a report's title and summary, with a link to the
// whole of it (none without a public URL).
func (n *Notifier) PostReport(ctx context.Context, title, summary, link string) error {
	m := Message{Topic: n.Topic, Title: title, Message: summary, Priority: 3, Tags: []string{"clipboard"}, Click: link}
	if len(m.Message) > MaxMessage {
		m.Message = m.Message[:MaxMessage-3] + "..."
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return n.do(ctx, http.MethodPost, strings.TrimSuffix(n.URL, "/")+"/", body, false)
}
