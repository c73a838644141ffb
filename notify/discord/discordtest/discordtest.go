// Package discordtest is a local server for the parts of Discord opsbot
// uses: the REST API of its notifier (channel messages, webhook messages)
// and of its bot (application commands, interaction callbacks, edits and
// follow-ups), and the gateway websocket the bot's commands come over. It
// checks requests the way Discord does for them; discordgo's real Session
// talks to it through discord.PointAt.
package discordtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
)

// Message is a message as the server keeps it.
type Message struct {
	ID         string            `json:"id"`
	ChannelID  string            `json:"channel_id"`
	Content    string            `json:"content"`
	Embeds     []json.RawMessage `json:"embeds"`
	Components []json.RawMessage `json:"components"`
	Edits      int               `json:"-"`
	// Files are the attachments, by name.
	Files map[string]string `json:"-"`
}

// Server is the fake Discord.
type Server struct {
	*httptest.Server
	BotToken                string
	WebhookID, WebhookToken string

	gwOnce  sync.Once
	gateway *gateway

	mu       sync.Mutex
	next     int
	messages map[string]*Message
	order    []string
}

// New starts a server.
func New(botToken, webhookID, webhookToken string) *Server {
	s := &Server{BotToken: botToken, WebhookID: webhookID, WebhookToken: webhookToken, messages: map[string]*Message{}, next: 1000}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Messages returns the messages in the order they were created.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, id := range s.order {
		if m, ok := s.messages[id]; ok {
			out = append(out, *m)
		}
	}
	return out
}

// Delete removes a message, as a moderator would.
func (s *Server) Delete(id string) { s.mu.Lock(); delete(s.messages, id); s.mu.Unlock() }

var (
	channelMsgs = regexp.MustCompile(`^/api/v\d+/channels/(\d+)/messages$`)
	channelMsg  = regexp.MustCompile(`^/api/v\d+/channels/(\d+)/messages/(\d+)$`)
	webhookExec = regexp.MustCompile(`^/api/v\d+/webhooks/(\d+)/([^/]+)$`)
	webhookMsg  = regexp.MustCompile(`^/api/v\d+/webhooks/(\d+)/([^/]+)/messages/(\d+)$`)
)

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"message":%q,"code":0}`, msg)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.serveBot(w, r) {
		return
	}
	p := r.URL.Path
	var m *regexp.Regexp
	switch {
	case channelMsgs.MatchString(p) && r.Method == http.MethodPost, channelMsg.MatchString(p) && r.Method == http.MethodPatch:
		if r.Header.Get("Authorization") != "Bot "+s.BotToken {
			fail(w, http.StatusUnauthorized, "401: Unauthorized")
			return
		}
		m = channelMsgs
		if r.Method == http.MethodPatch {
			m = channelMsg
		}
	case webhookExec.MatchString(p) && r.Method == http.MethodPost, webhookMsg.MatchString(p) && r.Method == http.MethodPatch:
		m = webhookExec
		if r.Method == http.MethodPatch {
			m = webhookMsg
		}
		if sub := m.FindStringSubmatch(p); sub[1] != s.WebhookID || sub[2] != s.WebhookToken {
			fail(w, http.StatusUnauthorized, "Invalid Webhook Token")
			return
		}
	default:
		fail(w, http.StatusNotFound, "404: Not Found")
		return
	}
	var body struct {
		Content    string            `json:"content"`
		Embeds     []json.RawMessage `json:"embeds"`
		Components []json.RawMessage `json:"components"`
	}
	var payload io.Reader = r.Body
	files := map[string]string{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		// A message with attachments: the JSON is the payload_json part.
		if err := r.ParseMultipartForm(8 << 20); err != nil {
			fail(w, http.StatusBadRequest, "Invalid Form Body: "+err.Error())
			return
		}
		payload = strings.NewReader(r.FormValue("payload_json"))
		for _, fhs := range r.MultipartForm.File {
			for _, fh := range fhs {
				f, _ := fh.Open()
				b, _ := io.ReadAll(f)
				f.Close()
				files[fh.Filename] = string(b)
			}
		}
	}
	if err := json.NewDecoder(payload).Decode(&body); err != nil {
		fail(w, http.StatusBadRequest, "Invalid Form Body: "+err.Error())
		return
	}
	if err := check(body.Embeds, body.Components, m == webhookExec || m == webhookMsg); err != "" {
		fail(w, http.StatusBadRequest, "Invalid Form Body: "+err)
		return
	}
	sub := m.FindStringSubmatch(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	var msg *Message
	switch m {
	case channelMsgs, webhookExec:
		if m == webhookExec && r.URL.Query().Get("wait") != "true" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.next++
		msg = &Message{ID: fmt.Sprint(s.next), ChannelID: sub[1]}
		s.messages[msg.ID] = msg
		s.order = append(s.order, msg.ID)
	default:
		id := sub[len(sub)-1]
		var ok bool
		if msg, ok = s.messages[id]; !ok {
			fail(w, http.StatusNotFound, "Unknown Message")
			return
		}
		msg.Edits++
	}
	if body.Embeds != nil {
		msg.Embeds = body.Embeds
	}
	if body.Components != nil {
		msg.Components = body.Components
	}
	msg.Content = body.Content
	if len(files) > 0 {
		msg.Files = files
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(msg)
}

// check applies Discord's limits on embeds and components.
func check(embeds, components []json.RawMessage, webhook bool) string {
	if len(embeds) > 10 {
		return "embeds: at most 10"
	}
	for _, raw := range embeds {
		var e struct {
			Title       string `json:"title"`
			Description string `json:"description"`
			Color       int    `json:"color"`
			Fields      []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"fields"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return "embed: " + err.Error()
		}
		switch {
		case len([]rune(e.Title)) > 256, len([]rune(e.Description)) > 4096, len(e.Fields) > 25, e.Color < 0 || e.Color > 0xffffff:
			return "embed: over a limit"
		}
		for _, f := range e.Fields {
			if f.Name == "" || f.Value == "" || len([]rune(f.Name)) > 256 || len([]rune(f.Value)) > 1024 {
				return "embed field: empty or over a limit"
			}
		}
	}
	if webhook && len(components) > 0 {
		return "components: a webhook not owned by an application cannot send components"
	}
	if len(components) > 5 {
		return "components: at most 5 rows"
	}
	for _, raw := range components {
		var row struct {
			Type       int `json:"type"`
			Components []struct {
				Type     int    `json:"type"`
				Style    int    `json:"style"`
				Label    string `json:"label"`
				CustomID string `json:"custom_id"`
				URL      string `json:"url"`
			} `json:"components"`
		}
		if err := json.Unmarshal(raw, &row); err != nil || row.Type != 1 || len(row.Components) == 0 || len(row.Components) > 5 {
			return "components: an action row holds 1 to 5 components"
		}
		for _, b := range row.Components {
			switch {
			case b.Type != 2:
				return "components: only buttons here"
			case b.Style < 1 || b.Style > 5:
				return "button: bad style"
			case b.Style != 5 && (b.CustomID == "" || len(b.CustomID) > 100):
				return "button: custom_id is required, at most 100"
			case len([]rune(b.Label)) > 80:
				return "button: label over 80"
			case strings.TrimSpace(b.Label) == "":
				return "button: label required"
			}
		}
	}
	return ""
}
