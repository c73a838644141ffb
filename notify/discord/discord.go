// Package discord posts incidents to a Discord channel with discordgo: one
// message per incident, edited in place on every change. With a bot token
// the message has Acknowledge, Resolve and Snooze buttons while the
// incident is open; with only a webhook URL it has none.
package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/notify"
)

// Refs keeps which message shows which incident.
type Refs interface {
	NotificationRef(ctx context.Context, target string, id int64) (string, bool, error)
	SetNotificationRef(ctx context.Context, target string, id int64, ref string) error
}

// Notifier posts to one channel, as a bot or through a webhook.
type Notifier struct {
	Target  string
	Session *discordgo.Session
	// Bot mode: the channel.
	ChannelID string
	// Webhook mode: the webhook's id and token.
	WebhookID, WebhookToken string
	Refs                    Refs
	// Mentions[i] is who is mentioned when the incident reaches escalation
	// step i+1 ("<@&role id>", "<@user id>"; empty: nobody). Discord does
	// not notify on edits, so a mention is a message of its own.
	Mentions []string
}

// Colors of the embed by state and severity.
const (
	red    = 0xd93f0b
	orange = 0xf29513
	blue   = 0x1d76db
	yellow = 0xfbca04
	green  = 0x0e8a16
)

// Actor is how a Discord user acts on incidents: name and id, as the
// timeline and the audit log show them.
func Actor(name, id string) string { return name + " (discord " + id + ")" }

var actorRE = regexp.MustCompile(`^.* \(discord (\d+)\)$`)

// Who shows an actor in a message: a Discord user as a mention (which in
// an embed notifies nobody), anyone else by name.
func Who(actor string) string {
	if m := actorRE.FindStringSubmatch(actor); m != nil {
		return "<@" + m[1] + ">"
	}
	return actor
}

// CustomID is a button's custom id: "opsbot:<verb>:<incident id>".
func CustomID(verb incidents.Verb, id int64) string { return fmt.Sprintf("opsbot:%s:%d", verb, id) }

// Embed renders an incident.
func Embed(inc *incidents.Incident) *discordgo.MessageEmbed {
	e := &discordgo.MessageEmbed{
		Title:     truncate(fmt.Sprintf("#%d %s", inc.ID, inc.Title), 256),
		Timestamp: inc.UpdatedAt.UTC().Format(time.RFC3339),
		Footer:    &discordgo.MessageEmbedFooter{Text: "opsbot · " + inc.Source},
	}
	state := string(inc.State)
	switch inc.State {
	case incidents.Triggered:
		e.Color = map[incidents.Severity]int{incidents.Critical: red, incidents.Warning: orange}[inc.Severity]
		if e.Color == 0 {
			e.Color = blue
		}
	case incidents.Acknowledged:
		e.Color, state = yellow, "acknowledged by "+Who(inc.AcknowledgedBy)
	case incidents.Resolved:
		e.Color = green
		if inc.ResolvedBy != "" {
			state = "resolved by " + Who(inc.ResolvedBy)
		}
	}
	if inc.SnoozedUntil != nil && inc.State.Open() {
		state += fmt.Sprintf(", snoozed until <t:%d:t>", inc.SnoozedUntil.Unix())
	}
	if inc.Flapping {
		state += fmt.Sprintf(", flapping (%d changes lately)", len(inc.FlapTimes))
	}
	e.Fields = []*discordgo.MessageEmbedField{
		{Name: "State", Value: truncate(state, 1024), Inline: true},
		{Name: "Severity", Value: string(inc.Severity), Inline: true},
		{Name: "Firing", Value: fmt.Sprint(inc.FiringAlerts), Inline: true},
	}
	var b strings.Builder
	shown := 0
	for _, a := range inc.Alerts {
		if a.Status != incidents.AlertFiring {
			continue
		}
		line := "• " + a.Summary + "\n"
		if shown == 15 || b.Len()+len(line) > 3900 {
			fmt.Fprintf(&b, "… and %d more", inc.FiringAlerts-shown)
			break
		}
		b.WriteString(line)
		shown++
	}
	e.Description = b.String()
	return e
}

// Buttons are the components for an incident: none once resolved.
func Buttons(inc *incidents.Incident) []discordgo.MessageComponent {
	if !inc.State.Open() {
		return []discordgo.MessageComponent{}
	}
	var row discordgo.ActionsRow
	if inc.State == incidents.Triggered {
		row.Components = append(row.Components, discordgo.Button{Label: "Acknowledge", Style: discordgo.PrimaryButton, CustomID: CustomID(incidents.Ack, inc.ID)})
	}
	row.Components = append(row.Components,
		discordgo.Button{Label: "Resolve", Style: discordgo.SuccessButton, CustomID: CustomID(incidents.Close, inc.ID)},
		discordgo.Button{Label: "Snooze 1h", Style: discordgo.SecondaryButton, CustomID: CustomID(incidents.Snooze, inc.ID)})
	return []discordgo.MessageComponent{row}
}

// Notify posts the incident's message, or edits the one it has, and posts
// the mentions of the escalation steps it has reached since last time.
func (n *Notifier) Notify(ctx context.Context, inc *incidents.Incident) error {
	if err := n.notify(ctx, inc); err != nil {
		return err
	}
	return n.mention(ctx, inc)
}

func (n *Notifier) mention(ctx context.Context, inc *incidents.Incident) error {
	if len(n.Mentions) == 0 || inc.EscalationStep == 0 || !inc.State.Open() {
		return nil
	}
	key := n.Target + "#escalation"
	last := 0
	if ref, ok, err := n.Refs.NotificationRef(ctx, key, inc.ID); err != nil {
		return err
	} else if ok {
		fmt.Sscanf(ref, "%d", &last)
	}
	if inc.EscalationStep < last {
		last = 0 // triggered again since: its steps are new
	}
	var who []string
	for step := last + 1; step <= inc.EscalationStep && step <= len(n.Mentions); step++ {
		if m := n.Mentions[step-1]; m != "" {
			who = append(who, m)
		}
	}
	if len(who) > 0 {
		content := fmt.Sprintf("%s incident #%d is not acknowledged (escalation step %d): %s", strings.Join(who, " "), inc.ID, inc.EscalationStep, truncate(inc.Title, 200))
		allowed := &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{discordgo.AllowedMentionTypeRoles, discordgo.AllowedMentionTypeUsers}}
		var err error
		if n.ChannelID != "" {
			_, err = n.Session.ChannelMessageSendComplex(n.ChannelID, &discordgo.MessageSend{Content: content, AllowedMentions: allowed}, discordgo.WithContext(ctx))
		} else {
			_, err = n.Session.WebhookExecute(n.WebhookID, n.WebhookToken, true, &discordgo.WebhookParams{Content: content, AllowedMentions: allowed}, discordgo.WithContext(ctx))
		}
		if err != nil {
			return classify(err)
		}
	}
	return n.Refs.SetNotificationRef(ctx, key, inc.ID, fmt.Sprint(inc.EscalationStep))
}

func (n *Notifier) notify(ctx context.Context, inc *incidents.Incident) error {
	ref, ok, err := n.Refs.NotificationRef(ctx, n.Target, inc.ID)
	if err != nil {
		return err
	}
	embeds := []*discordgo.MessageEmbed{Embed(inc)}
	opt := discordgo.WithContext(ctx)
	if ok {
		if n.ChannelID != "" {
			components := Buttons(inc)
			_, err = n.Session.ChannelMessageEditComplex(&discordgo.MessageEdit{ID: ref, Channel: n.ChannelID, Embeds: &embeds, Components: &components}, opt)
		} else {
			_, err = n.Session.WebhookMessageEdit(n.WebhookID, n.WebhookToken, ref, &discordgo.WebhookEdit{Embeds: &embeds}, opt)
		}
		if !isStatus(err, http.StatusNotFound) {
			return classify(err)
		}
		// The message was deleted: post a new one.
	}
	var msg *discordgo.Message
	if n.ChannelID != "" {
		msg, err = n.Session.ChannelMessageSendComplex(n.ChannelID, &discordgo.MessageSend{Embeds: embeds, Components: Buttons(inc)}, opt)
	} else {
		msg, err = n.Session.WebhookExecute(n.WebhookID, n.WebhookToken, true, &discordgo.WebhookParams{Embeds: embeds}, opt)
	}
	if err != nil {
		return classify(err)
	}
	// Had this failed, the next attempt would post a second message: at
	// least once, as with every target.
	return n.Refs.SetNotificationRef(ctx, n.Target, inc.ID, msg.ID)
}

func isStatus(err error, code int) bool {
	var rest *discordgo.RESTError
	return errors.As(err, &rest) && rest.Response != nil && rest.Response.StatusCode == code
}

// classify makes 4xx answers (but 408 and 429) permanent.
func classify(err error) error {
	var rest *discordgo.RESTError
	if errors.As(err, &rest) && rest.Response != nil {
		c := rest.Response.StatusCode
		if c >= 400 && c < 500 && c != http.StatusTooManyRequests && c != http.StatusRequestTimeout {
			return &notify.PermanentError{Err: fmt.Errorf("discord: %s", rest.Response.Status)}
		}
	}
	if err != nil {
		return fmt.Errorf("discord: %w", err)
	}
	return nil
}

// ParseWebhook splits a webhook URL (https://discord.com/api/webhooks/ID/TOKEN).
func ParseWebhook(raw string) (id, token string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", errors.New("not a URL")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := 0; i+2 < len(parts); i++ {
		if parts[i] == "webhooks" {
			return parts[i+1], parts[i+2], nil
		}
	}
	return "", "", errors.New("not a Discord webhook URL (.../api/webhooks/ID/TOKEN)")
}

// PointAt makes discordgo talk to base (a proxy, or a test server) instead
// of https://discord.com. discordgo keeps its endpoints in package
// variables; opsbot sets them once, at start.
func PointAt(base string) {
	discordgo.EndpointDiscord = strings.TrimSuffix(base, "/") + "/"
	discordgo.EndpointAPI = discordgo.EndpointDiscord + "api/v" + discordgo.APIVersion + "/"
	discordgo.EndpointGuilds = discordgo.EndpointAPI + "guilds/"
	discordgo.EndpointChannels = discordgo.EndpointAPI + "channels/"
	discordgo.EndpointUsers = discordgo.EndpointAPI + "users/"
	discordgo.EndpointGateway = discordgo.EndpointAPI + "gateway"
	discordgo.EndpointGatewayBot = discordgo.EndpointGateway + "/bot"
	discordgo.EndpointWebhooks = discordgo.EndpointAPI + "webhooks/"
	discordgo.EndpointApplications = discordgo.EndpointAPI + "applications"
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// PostReport posts a report: its title and summary, the whole body
// attached as a file.
func (n *Notifier) PostReport(ctx context.Context, title, summary, body, file string) error {
	embeds := []*discordgo.MessageEmbed{{Title: truncate(title, 256), Description: truncate(summary, 4000), Color: blue}}
	files := []*discordgo.File{{Name: file, ContentType: "text/plain", Reader: strings.NewReader(body)}}
	opt := discordgo.WithContext(ctx)
	var err error
	if n.ChannelID != "" {
		_, err = n.Session.ChannelMessageSendComplex(n.ChannelID, &discordgo.MessageSend{Embeds: embeds, Files: files}, opt)
	} else {
		_, err = n.Session.WebhookExecute(n.WebhookID, n.WebhookToken, true, &discordgo.WebhookParams{Embeds: embeds, Files: files}, opt)
	}
	return classify(err)
}
