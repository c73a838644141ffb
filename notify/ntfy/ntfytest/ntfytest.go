// Package ntfytest is a local ntfy server for tests: it checks each request
// the way ntfy's publish API does (topic, JSON fields, action syntax, auth,
// sequence id, clear) and records what it accepted.
package ntfytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Message is a publish the server accepted.
type Message struct {
	Topic      string   `json:"topic"`
	Title      string   `json:"title"`
	Message    string   `json:"message"`
	Priority   int      `json:"priority"`
	Tags       []string `json:"tags"`
	Click      string   `json:"click"`
	Actions    []Action `json:"actions"`
	SequenceID string   `json:"sequence_id"`
	Markdown   bool     `json:"markdown"`
	Icon       string   `json:"icon"`
}

// Action is an action button.
type Action struct {
	Action  string            `json:"action"`
	Label   string            `json:"label"`
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Clear   bool              `json:"clear"`
	Intent  string            `json:"intent"`
	Extras  map[string]string `json:"extras"`
}

// Server is the fake ntfy.
type Server struct {
	*httptest.Server
	// Token is the bearer token required, if set.
	Token string

	mu       sync.Mutex
	messages []Message
	clears   []string // topic/sequence id
	down     bool
	old      bool // before 2.16: no sequence ids, 404 on clear
}

var (
	topicRE = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)
	seqRE   = regexp.MustCompile(`^[-_A-Za-z0-9]{1,64}$`)
)

// New starts a server.
func New(token string) *Server {
	s := &Server{Token: token}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetDown makes the server answer 503 (or serve again).
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// SetOld makes the server behave like ntfy before 2.16.
func (s *Server) SetOld(old bool) { s.mu.Lock(); s.old = old; s.mu.Unlock() }

// Messages returns what was published.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Clears returns the topic/sequence ids that were cleared.
func (s *Server) Clears() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.clears...)
}

// Latest is the last message of a sequence id, and how many there were.
func (s *Server) Latest(seq string) (Message, int) {
	var last Message
	n := 0
	for _, m := range s.Messages() {
		if m.SequenceID == seq {
			last, n = m, n+1
		}
	}
	return last, n
}

func fail(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"code":%d,"http":%d,"error":%q}`, code*100+1, code, fmt.Sprintf(format, args...))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down, old := s.down, s.old
	s.mu.Unlock()
	if down {
		fail(w, http.StatusServiceUnavailable, "service unavailable")
		return
	}
	if s.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.Token {
		fail(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/":
		s.publish(w, r, old)
	case r.Method == http.MethodPut && len(parts) == 3 && parts[2] == "clear":
		if old {
			fail(w, http.StatusNotFound, "page not found")
			return
		}
		if !topicRE.MatchString(parts[0]) || !seqRE.MatchString(parts[1]) {
			fail(w, http.StatusBadRequest, "invalid topic or sequence id")
			return
		}
		s.mu.Lock()
		s.clears = append(s.clears, parts[0]+"/"+parts[1])
		s.mu.Unlock()
		w.Write([]byte(`{"success":true}`))
	default:
		fail(w, http.StatusNotFound, "page not found")
	}
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request, old bool) {
	var m Message
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		fail(w, http.StatusBadRequest, "invalid request: request body must be message JSON: %v", err)
		return
	}
	switch {
	case !topicRE.MatchString(m.Topic):
		fail(w, http.StatusBadRequest, "invalid topic")
		return
	case m.Priority < 0 || m.Priority > 5:
		fail(w, http.StatusBadRequest, "invalid priority")
		return
	case len(m.Message) > 4096:
		fail(w, http.StatusRequestEntityTooLarge, "message too large")
		return
	case m.SequenceID != "" && !seqRE.MatchString(m.SequenceID):
		fail(w, http.StatusBadRequest, "invalid sequence id")
		return
	case len(m.Actions) > 3:
		fail(w, http.StatusBadRequest, "too many actions")
		return
	}
	if m.Click != "" {
		if u, err := url.Parse(m.Click); err != nil || u.Scheme == "" {
			fail(w, http.StatusBadRequest, "invalid click URL")
			return
		}
	}
	for _, a := range m.Actions {
		if a.Label == "" {
			fail(w, http.StatusBadRequest, "action label required")
			return
		}
		switch a.Action {
		case "view", "http":
			if u, err := url.Parse(a.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				fail(w, http.StatusBadRequest, "invalid action URL %q", a.URL)
				return
			}
			if a.Action == "http" && a.Method != "" && a.Method != "GET" && a.Method != "POST" && a.Method != "PUT" {
				fail(w, http.StatusBadRequest, "invalid action method")
				return
			}
		case "broadcast":
		default:
			fail(w, http.StatusBadRequest, "invalid action type %q", a.Action)
			return
		}
	}
	if old {
		m.SequenceID = "" // not known before 2.16
	}
	s.mu.Lock()
	s.messages = append(s.messages, m)
	n := len(s.messages)
	s.mu.Unlock()
	var out bytes.Buffer
	json.NewEncoder(&out).Encode(map[string]any{"id": fmt.Sprintf("m%d", n), "event": "message", "topic": m.Topic})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out.Bytes())
}
