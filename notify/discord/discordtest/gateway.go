package discordtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The gateway side of the fake: GET /api/v10/gateway names the websocket
// URL; on it the server says HELLO, takes IDENTIFY and answers READY, acks
// heartbeats, takes RESUME and replays what the client missed, and
// dispatches events such as INTERACTION_CREATE. Interactions are answered
// over REST as on Discord: one callback within 3 seconds, then edits of the
// original response and follow-ups through the interaction's webhook.

// Gateway opcodes.
const (
	opDispatch     = 0
	opHeartbeat    = 1
	opIdentify     = 2
	opResume       = 6
	opReconnect    = 7
	opHello        = 10
	opHeartbeatAck = 11
)

// Response is what opsbot answered to one interaction.
type Response struct {
	// Type is the callback's type (4 message, 5 deferred message, ...).
	Type int
	// Ephemeral tells whether only the user who acted sees the answer.
	Ephemeral bool
	Content   string
	Embeds    []json.RawMessage
	// After is how long after the dispatch the callback came.
	After time.Duration
	// Edits and Followups came later through the webhook; Deleted tells
	// whether the original response was deleted.
	Edits     []string
	Followups []Followup
	Deleted   bool
}

// Followup is a follow-up message.
type Followup struct {
	Content   string
	Ephemeral bool
}

// Final is the text the user finally sees: the last follow-up, else the
// last edit, else the original response, with its embeds' JSON appended.
func (r *Response) Final() (text string, ephemeral bool) {
	switch {
	case len(r.Followups) > 0:
		f := r.Followups[len(r.Followups)-1]
		return f.Content, f.Ephemeral
	case len(r.Edits) > 0:
		return r.Edits[len(r.Edits)-1], r.Ephemeral
	}
	text = r.Content
	for _, e := range r.Embeds {
		text += "\n" + string(e)
	}
	return text, r.Ephemeral
}

type gateway struct {
	mu         sync.Mutex
	appID      string
	guilds     []string
	session    string
	seq        int64
	sent       []sentEvent // every dispatch, for resumes
	conn       *websocket.Conn
	connected  chan struct{}
	identifies int
	resumes    int
	heartbeats int
	commands   map[string][]json.RawMessage // by guild
	registered int
	// interactions by id
	interactions map[string]*interaction
	nextID       int
}

type sentEvent struct {
	seq  int64
	data []byte
}

type interaction struct {
	token      string
	dispatched time.Time
	resp       *Response
	done       chan struct{} // closed on the callback
}

// HeartbeatInterval is the interval the gateway asks for; short, so tests
// see heartbeats.
var HeartbeatInterval = 500 * time.Millisecond

func (s *Server) gw() *gateway {
	s.gwOnce.Do(func() {
		s.gateway = &gateway{appID: "900000000000000001", session: "session-1", connected: make(chan struct{}),
			commands: map[string][]json.RawMessage{}, interactions: map[string]*interaction{}, nextID: 7000}
	})
	return s.gateway
}

// AppID is the application id the fake's READY names.
func (s *Server) AppID() string { return s.gw().appID }

// Counts says how many IDENTIFYs, RESUMEs and heartbeats the gateway took.
func (s *Server) Counts() (identifies, resumes, heartbeats int) {
	g := s.gw()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.identifies, g.resumes, g.heartbeats
}

// Commands returns the slash commands registered for a guild, and how many
// times commands were registered.
func (s *Server) Commands(guild string) ([]json.RawMessage, int) {
	g := s.gw()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.commands[guild], g.registered
}

// WaitConnected waits until a client is connected and identified or resumed.
func (s *Server) WaitConnected(timeout time.Duration) error {
	g := s.gw()
	g.mu.Lock()
	ch := g.connected
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-time.After(timeout):
		return errors.New("discordtest: no client connected")
	}
}

// Drop closes the client's connection without a word, as a network fault
// would; discordgo reconnects and resumes.
func (s *Server) Drop() {
	g := s.gw()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conn != nil {
		g.conn.Close()
	}
}

// Reconnect asks the client to reconnect (opcode 7), as Discord does
// before it moves a session.
func (s *Server) Reconnect() {
	g := s.gw()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conn != nil {
		g.conn.WriteJSON(map[string]any{"op": opReconnect, "d": nil})
	}
}

// Dispatch sends an event; while no client is connected it is kept for
// the client's RESUME.
func (s *Server) Dispatch(typ string, d any) {
	g := s.gw()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dispatch(typ, d)
}

func (g *gateway) dispatch(typ string, d any) {
	g.seq++
	b, _ := json.Marshal(map[string]any{"op": opDispatch, "t": typ, "s": g.seq, "d": d})
	g.sent = append(g.sent, sentEvent{g.seq, b})
	if g.conn != nil {
		g.conn.WriteMessage(websocket.TextMessage, b)
	}
}

// User is who interacts.
type User struct {
	ID, Name string
	// Roles are the member's roles; DM is an interaction in a direct
	// message, where there is no member and no guild.
	Roles []string
	DM    bool
}

// Option is a slash command's option as Discord sends it.
type Option struct {
	Name  string `json:"name"`
	Type  int    `json:"type"`
	Value any    `json:"value"`
}

// Command dispatches a slash command as INTERACTION_CREATE in guild and
// channel, and returns the interaction's id.
func (s *Server) Command(u User, guild, channel, name string, opts ...Option) string {
	return s.interact(u, guild, channel, 2, map[string]any{"id": "800" + fmt.Sprint(len(name)), "name": name, "type": 1, "options": opts})
}

// Press dispatches a button press on a message as INTERACTION_CREATE.
func (s *Server) Press(u User, guild, channel, customID string) string {
	return s.interact(u, guild, channel, 3, map[string]any{"custom_id": customID, "component_type": 2})
}

func (s *Server) interact(u User, guild, channel string, typ int, data map[string]any) string {
	g := s.gw()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextID++
	id := fmt.Sprint(g.nextID)
	it := &interaction{token: "itoken-" + id, done: make(chan struct{})}
	g.interactions[id] = it
	user := map[string]any{"id": u.ID, "username": strings.ToLower(u.Name), "global_name": u.Name, "discriminator": "0"}
	d := map[string]any{"id": id, "application_id": g.appID, "type": typ, "data": data, "channel_id": channel,
		"token": it.token, "version": 1, "locale": "en-US"}
	if u.DM {
		d["user"] = user
	} else {
		d["guild_id"] = guild
		d["member"] = map[string]any{"user": user, "roles": u.Roles, "permissions": "0"}
	}
	if typ == 3 {
		d["message"] = map[string]any{"id": "1001", "channel_id": channel, "content": ""}
	}
	it.dispatched = time.Now()
	g.dispatch("INTERACTION_CREATE", d)
	return id
}

// Response waits for opsbot's answer to an interaction and then, for
// settle, for its edits and follow-ups.
func (s *Server) Response(id string, timeout, settle time.Duration) (*Response, error) {
	g := s.gw()
	g.mu.Lock()
	it, ok := g.interactions[id]
	g.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no interaction %s", id)
	}
	select {
	case <-it.done:
	case <-time.After(timeout):
		return nil, fmt.Errorf("interaction %s: no answer in %s", id, timeout)
	}
	deadline := time.Now().Add(settle)
	for {
		g.mu.Lock()
		r := *it.resp
		g.mu.Unlock()
		// A deferred answer is complete once edited or followed up.
		if r.Type != 5 || len(r.Edits) > 0 || len(r.Followups) > 0 || time.Now().After(deadline) {
			return &r, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) serveGateway(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	g := s.gw()
	defer func() {
		c.Close()
		g.mu.Lock()
		if g.conn == c {
			g.conn, g.connected = nil, make(chan struct{})
		}
		g.mu.Unlock()
	}()
	write := func(v any) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		return c.WriteJSON(v)
	}
	if write(map[string]any{"op": opHello, "d": map[string]any{"heartbeat_interval": HeartbeatInterval.Milliseconds()}}) != nil {
		return
	}
	for {
		var m struct {
			Op int             `json:"op"`
			D  json.RawMessage `json:"d"`
		}
		if err := c.ReadJSON(&m); err != nil {
			return
		}
		switch m.Op {
		case opHeartbeat:
			g.mu.Lock()
			g.heartbeats++
			g.mu.Unlock()
			if write(map[string]any{"op": opHeartbeatAck}) != nil {
				return
			}
		case opIdentify:
			var id struct {
				Token string `json:"token"`
			}
			json.Unmarshal(m.D, &id)
			if strings.TrimPrefix(id.Token, "Bot ") != s.BotToken {
				c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4004, "Authentication failed."), time.Now().Add(time.Second))
				return
			}
			g.mu.Lock()
			g.identifies++
			g.conn = c
			guilds := []map[string]any{}
			for _, id := range g.guilds {
				guilds = append(guilds, map[string]any{"id": id, "unavailable": true})
			}
			g.dispatch("READY", map[string]any{"v": 10, "session_id": g.session, "resume_gateway_url": "ws://" + r.Host + "/gateway",
				"user":        map[string]any{"id": "900000000000000002", "username": "opsbot", "bot": true, "discriminator": "0"},
				"application": map[string]any{"id": g.appID, "flags": 0}, "guilds": guilds})
			close(g.connected)
			g.mu.Unlock()
		case opResume:
			var res struct {
				Token     string `json:"token"`
				SessionID string `json:"session_id"`
				Seq       int64  `json:"seq"`
			}
			json.Unmarshal(m.D, &res)
			g.mu.Lock()
			if res.SessionID != g.session || strings.TrimPrefix(res.Token, "Bot ") != s.BotToken {
				g.mu.Unlock()
				c.WriteJSON(map[string]any{"op": 9, "d": false})
				continue
			}
			g.resumes++
			g.conn = c
			for _, e := range g.sent {
				if e.seq > res.Seq {
					c.WriteMessage(websocket.TextMessage, e.data)
				}
			}
			g.dispatch("RESUMED", map[string]any{})
			close(g.connected)
			g.mu.Unlock()
		}
	}
}

var (
	gatewayURL      = regexp.MustCompile(`^/api/v\d+/gateway(/bot)?$`)
	guildCommands   = regexp.MustCompile(`^/api/v\d+/applications/(\d+)/guilds/(\d+)/commands$`)
	callback        = regexp.MustCompile(`^/api/v\d+/interactions/(\d+)/([^/]+)/callback$`)
	webhookOriginal = regexp.MustCompile(`^/api/v\d+/webhooks/(\d+)/([^/]+)/messages/@original$`)
	webhookFollowup = regexp.MustCompile(`^/api/v\d+/webhooks/(\d+)/(itoken-[^/]+)$`)
	commandName     = regexp.MustCompile(`^[-_\p{L}\p{N}]{1,32}$`)
)

// serveBot serves the REST endpoints of the gateway side; it reports
// false for any other path.
func (s *Server) serveBot(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	g := s.gw()
	switch {
	case r.URL.Path == "/gateway" || r.URL.Path == "/gateway/":
		s.serveGateway(w, r)
	case gatewayURL.MatchString(p) && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"url":"ws://%s/gateway","shards":1}`, r.Host)
	case guildCommands.MatchString(p):
		if r.Header.Get("Authorization") != "Bot "+s.BotToken {
			fail(w, http.StatusUnauthorized, "401: Unauthorized")
			return true
		}
		sub := guildCommands.FindStringSubmatch(p)
		if sub[1] != g.appID {
			fail(w, http.StatusForbidden, "Missing Access")
			return true
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if r.Method == http.MethodPut {
			var cmds []map[string]any
			if err := json.NewDecoder(r.Body).Decode(&cmds); err != nil {
				fail(w, http.StatusBadRequest, "Invalid Form Body")
				return true
			}
			out := []json.RawMessage{}
			for i, c := range cmds {
				if msg := checkCommand(c); msg != "" {
					fail(w, http.StatusBadRequest, fmt.Sprintf("Invalid Form Body: %d: %s", i, msg))
					return true
				}
				c["id"], c["application_id"], c["guild_id"] = fmt.Sprint(810000+i), g.appID, sub[2]
				b, _ := json.Marshal(c)
				out = append(out, b)
			}
			g.commands[sub[2]] = out
			g.registered++
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(g.commands[sub[2]])
	case callback.MatchString(p) && r.Method == http.MethodPost:
		sub := callback.FindStringSubmatch(p)
		var body struct {
			Type int `json:"type"`
			Data struct {
				Content string            `json:"content"`
				Flags   int               `json:"flags"`
				Embeds  []json.RawMessage `json:"embeds"`
			} `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(w, http.StatusBadRequest, "Invalid Form Body")
			return true
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		it, ok := g.interactions[sub[1]]
		switch {
		case !ok || it.token != sub[2]:
			fail(w, http.StatusNotFound, "Unknown interaction")
		case it.resp != nil:
			fail(w, http.StatusBadRequest, "Interaction has already been acknowledged.")
		case time.Since(it.dispatched) > 3*time.Second:
			fail(w, http.StatusNotFound, "Unknown interaction") // Discord's 3 seconds are over
		case body.Type != 4 && body.Type != 5 && body.Type != 6 && body.Type != 7:
			fail(w, http.StatusBadRequest, "Invalid interaction response type")
		case check(body.Data.Embeds, nil, false) != "":
			fail(w, http.StatusBadRequest, "Invalid Form Body: "+check(body.Data.Embeds, nil, false))
		case body.Type == 4 && body.Data.Content == "" && len(body.Data.Embeds) == 0, len(body.Data.Content) > 2000:
			fail(w, http.StatusBadRequest, "Invalid Form Body: content: empty or over 2000")
		default:
			it.resp = &Response{Type: body.Type, Ephemeral: body.Data.Flags&64 != 0, Content: body.Data.Content,
				Embeds: body.Data.Embeds, After: time.Since(it.dispatched)}
			close(it.done)
			w.WriteHeader(http.StatusNoContent)
		}
	case webhookOriginal.MatchString(p) || webhookFollowup.MatchString(p) && r.Method == http.MethodPost:
		m := webhookOriginal
		if !m.MatchString(p) {
			m = webhookFollowup
		}
		sub := m.FindStringSubmatch(p)
		var body struct {
			Content string            `json:"content"`
			Flags   int               `json:"flags"`
			Embeds  []json.RawMessage `json:"embeds"`
		}
		if r.Method != http.MethodDelete {
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				fail(w, http.StatusBadRequest, "Invalid Form Body")
				return true
			}
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		var it *interaction
		for _, x := range g.interactions {
			if x.token == sub[2] {
				it = x
			}
		}
		if sub[1] != g.appID || it == nil || it.resp == nil {
			fail(w, http.StatusNotFound, "Unknown Webhook")
			return true
		}
		text := body.Content
		for _, e := range body.Embeds {
			text += "\n" + string(e)
		}
		switch {
		case len(body.Content) > 2000:
			fail(w, http.StatusBadRequest, "Invalid Form Body: content over 2000")
			return true
		case r.Method == http.MethodDelete:
			it.resp.Deleted = true
			w.WriteHeader(http.StatusNoContent)
			return true
		case m == webhookFollowup:
			it.resp.Followups = append(it.resp.Followups, Followup{Content: text, Ephemeral: body.Flags&64 != 0})
		case r.Method == http.MethodPatch:
			it.resp.Edits = append(it.resp.Edits, text)
		default:
			fail(w, http.StatusMethodNotAllowed, "405: Method Not Allowed")
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"%d","channel_id":"1","content":%q}`, 5000+len(it.resp.Edits)+len(it.resp.Followups), body.Content)
	default:
		return false
	}
	return true
}

// checkCommand applies Discord's rules for a slash command's definition.
func checkCommand(c map[string]any) string {
	name, _ := c["name"].(string)
	desc, _ := c["description"].(string)
	if !commandName.MatchString(name) || strings.ToLower(name) != name {
		return "name: lower case, 1 to 32 characters"
	}
	if desc == "" || len([]rune(desc)) > 100 {
		return name + ": description: 1 to 100 characters"
	}
	opts, _ := c["options"].([]any)
	if len(opts) > 25 {
		return name + ": options: at most 25"
	}
	optional := false
	for _, o := range opts {
		o, _ := o.(map[string]any)
		n, _ := o["name"].(string)
		d, _ := o["description"].(string)
		req, _ := o["required"].(bool)
		if !commandName.MatchString(n) || d == "" || len([]rune(d)) > 100 {
			return name + ": option " + n + ": bad name or description"
		}
		if req && optional {
			return name + ": required options must come before optional ones"
		}
		optional = optional || !req
		if ch, _ := o["choices"].([]any); len(ch) > 25 {
			return name + ": option " + n + ": at most 25 choices"
		}
	}
	return ""
}
