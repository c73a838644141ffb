// Package ops is opsbot's command layer. Every command a person gives,
// through the HTTP API (and so the CLI), a notification button or Discord,
// is parsed, authorized, executed, audited and answered here, so each one
// is written once and behaves the same everywhere. The surfaces only turn
// their input into a Request and a Reply into their own output.
package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/report"
	"github.com/opsbot/opsbot/upgrade"
)

// Perm is a permission class; each includes the ones before it.
type Perm int

const (
	// None may do nothing.
	None Perm = iota
	// Read may look at incidents, maintenance windows, the audit log and status.
	Read
	// Respond may also acknowledge, resolve, snooze, comment and silence.
	Respond
	// Operate may also start and end maintenance windows (and, later,
	// deploy).
	Operate
)

var permNames = []string{"none", "read", "respond", "operate"}

func (p Perm) String() string {
	if p < 0 || int(p) >= len(permNames) {
		return fmt.Sprintf("Perm(%d)", int(p))
	}
	return permNames[p]
}

// ParsePerm reads a permission class by name.
func ParsePerm(s string) (Perm, error) {
	for i, n := range permNames {
		if s == n {
			return Perm(i), nil
		}
	}
	return None, fmt.Errorf("%q is not a permission class (none, read, respond or operate)", s)
}

// Caller is who gives a command, and how.
type Caller struct {
	// Actor is the name the timeline and the audit log show.
	Actor string
	// Principal is who was authenticated when it is not Actor ("token ci"
	// acting for "alice"); the audit log shows both.
	Principal string
	// Via is the surface: api, button or discord.
	Via string
	// Origin says where the command came from, for the timeline.
	Origin string
	// Perm is what the caller may do; Why explains it in a refusal.
	Perm Perm
	Why  string
}

// Request is one command with its arguments; which ones matter depends on
// Command.
type Request struct {
	Command string
	// ID makes a retried command apply once; one is made up if empty.
	ID       string
	Incident int64
	Text     string
	Duration string
	// State filters a listing: open (the default), triggered,
	// acknowledged, resolved or all.
	State         string
	Before        int64
	Limit         int
	Matchers      []string
	Window        int64
	Since         time.Duration
	WindowsActive bool
	// Once refuses a command whose ID was already applied, as a used
	// button.
	Once bool
	// Target and Rev name a deploy; Plan a plan to approve (with Force
	// for a rewritten history); Run a run.
	Target, Rev string
	Plan, Run   int64
	Force       bool
	// Inputs are the flake inputs of an upgrade plan (none: all).
	Inputs []string
}

// Kind classifies a reply.
type Kind int

const (
	OK Kind = iota
	// Stored: the command is stored but not applied within the wait.
	Stored
	Created
	Invalid
	Unauthenticated
	Forbidden
	NotFound
	Conflict
	Gone
	Unavailable
	Upstream
	NotConfigured
	Internal
)

// HTTPStatus is the status code the API answers a kind with.
func (k Kind) HTTPStatus() int {
	return [...]int{
		OK: http.StatusOK, Stored: http.StatusAccepted, Created: http.StatusCreated, Invalid: http.StatusBadRequest,
		Unauthenticated: http.StatusUnauthorized, Forbidden: http.StatusForbidden, NotFound: http.StatusNotFound,
		Conflict: http.StatusConflict, Gone: http.StatusGone, Unavailable: http.StatusServiceUnavailable,
		Upstream: http.StatusBadGateway, NotConfigured: http.StatusNotImplemented, Internal: http.StatusInternalServerError,
	}[k]
}

// Failed reports whether the command did not happen.
func (k Kind) Failed() bool { return k >= Invalid }

// Reply is the answer to a command: a sentence for people, and the data.
type Reply struct {
	Kind    Kind   `json:"-"`
	Message string `json:"message"`
	EventID string `json:"event_id,omitempty"`
	// Outcome is what the reducer did ("acknowledged").
	Outcome    string                 `json:"outcome,omitempty"`
	Incident   *incidents.Incident    `json:"incident,omitempty"`
	Page       *incidents.Page        `json:"page,omitempty"`
	Window     *incidents.Window      `json:"window,omitempty"`
	Windows    []incidents.Window     `json:"windows,omitempty"`
	Audit      []incidents.AuditEntry `json:"audit,omitempty"`
	Status     *Status                `json:"status,omitempty"`
	Plan       *deploy.Plan           `json:"plan,omitempty"`
	Run        *deploy.Run            `json:"run,omitempty"`
	Runs       []deploy.Run           `json:"runs,omitempty"`
	Upgrade    *upgrade.Plan          `json:"upgrade,omitempty"`
	Report     *report.Report         `json:"report,omitempty"`
	ReportList []report.Report        `json:"reports,omitempty"`
	Apply      *upgrade.Apply         `json:"apply,omitempty"`
}

func fail(k Kind, format string, args ...any) Reply {
	return Reply{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Publisher stores commands on the bus.
type Publisher interface {
	PublishCommand(ctx context.Context, c *incidents.Command) error
}

// Reader answers queries from the store.
type Reader interface {
	ListIncidents(ctx context.Context, f incidents.Filter) (incidents.Page, error)
	Incident(ctx context.Context, id int64) (*incidents.Incident, error)
	Outcome(ctx context.Context, id string) (incidents.Outcome, bool, error)
	OpenCounts(ctx context.Context) ([]incidents.OpenCount, error)
	RecentActivity(ctx context.Context, limit int) ([]incidents.Activity, error)
}

// Waiter hands over the reducer's outcome of a published message.
type Waiter interface {
	Expect(id string) (<-chan incidents.Outcome, func())
}

// Silencer makes and expires silences in Alertmanager.
type Silencer interface {
	Silence(ctx context.Context, labels map[string]string, start, end time.Time, createdBy, comment string) (string, error)
	Expire(ctx context.Context, id string) error
}

// Windows keeps maintenance windows.
type Windows interface {
	CreateWindow(ctx context.Context, w *incidents.Window) error
	Windows(ctx context.Context, since time.Time) ([]incidents.Window, error)
	EndWindow(ctx context.Context, id int64, at time.Time) (incidents.Window, error)
}

// Auditor keeps the audit log.
type Auditor interface {
	RecordAudit(ctx context.Context, e incidents.AuditEntry) error
	Audit(ctx context.Context, before int64, limit int) ([]incidents.AuditEntry, error)
}

// Service executes commands.
type Service struct {
	Log       *slog.Logger
	Publisher Publisher
	Reader    Reader
	Waiter    Waiter
	// WaitTimeout is how long a command waits for the reducer.
	WaitTimeout time.Duration
	Rules       incidents.Rules
	NewID       func() string
	// Silencer silences alerts in Alertmanager; nil: none configured.
	Silencer Silencer
	// Windows keeps maintenance windows; nil: none.
	Windows Windows
	// Audit keeps the audit log; nil keeps none.
	Audit Auditor
	// Ready reports why opsbot is not ready, nil when it is.
	Ready func(ctx context.Context) error
	Now   func() time.Time
	// Deploys runs deploys; nil: none configured.
	Deploys Deployer
	// Upgrades plans upgrades; nil: none configured.
	Upgrades Upgrader
	// Applier applies upgrade plans; nil: none configured.
	Applier Applier
	// Reporter makes reports, Reports keeps them; nil: none.
	Reporter Reporter
	Reports  ReportStore
}

// command is one command's definition.
type command struct {
	// name in the audit log
	audit string
	perm  Perm
	run   func(s *Service, ctx context.Context, c *Caller, r *Request) Reply
}

// Limits of what people may ask for.
const (
	MaxSilence = 30 * 24 * time.Hour
	MaxWindow  = 7 * 24 * time.Hour
	// SnoozeFromButton is how long a notification button's snooze lasts.
	SnoozeFromButton = time.Hour
)

var commands = table()

func table() map[string]command {
	act := func(v incidents.Verb) command {
		return command{audit: "incident " + string(v), perm: Respond, run: func(s *Service, ctx context.Context, c *Caller, r *Request) Reply {
			return s.act(ctx, c, r, v)
		}}
	}
	commands := map[string]command{
		"incidents":         {audit: "incidents", perm: Read, run: (*Service).list},
		"incident":          {audit: "incident show", perm: Read, run: (*Service).show},
		"status":            {audit: "status", perm: Read, run: (*Service).status},
		"maintenance list":  {audit: "maintenance list", perm: Read, run: (*Service).listWindows},
		"audit":             {audit: "audit", perm: Read, run: (*Service).listAudit},
		"maintenance start": {audit: "maintenance start", perm: Operate, run: (*Service).startWindow},
		"maintenance end":   {audit: "maintenance end", perm: Operate, run: (*Service).endWindow},
		"silence":           {audit: "incident silence", perm: Respond, run: (*Service).silence},
		"unsilence":         {audit: "incident unsilence", perm: Respond, run: (*Service).silence},
	}
	for _, v := range []incidents.Verb{incidents.Ack, incidents.Unack, incidents.Close, incidents.Comment, incidents.Snooze} {
		commands[string(v)] = act(v)
	}
	for name, c := range deployCommands() {
		commands[name] = c
	}
	for name, c := range upgradeCommands() {
		commands[name] = c
	}
	for name, c := range reportCommands() {
		commands[name] = c
	}
	return commands
}

// Known reports whether name is a command.
func Known(name string) bool { _, ok := commands[name]; return ok }

// Needs is the permission class a command needs.
func Needs(name string) Perm { return commands[name].perm }

// Do authorizes and executes a command, and records it in the audit log:
// every command that acts, allowed or refused, and every refused one; the
// reads people make in chat too, not the API's.
func (s *Service) Do(ctx context.Context, c Caller, r Request) Reply {
	def, ok := commands[r.Command]
	if !ok {
		return fail(Invalid, "there is no command %q", r.Command)
	}
	var rep Reply
	if c.Perm < def.perm {
		why := c.Why
		if why == "" {
			why = "it may: " + c.Perm.String()
		}
		who := c.Principal
		if who == "" {
			who = c.Actor
		}
		rep = fail(Forbidden, "%s may not %s (%s)", who, def.perm, why)
	} else {
		rep = def.run(s, ctx, &c, &r)
	}
	if def.perm > Read || c.Via != "api" || rep.Kind == Forbidden {
		s.record(ctx, c, def.audit, target(&r), rep)
	}
	return rep
}

// Record puts a command a surface answered itself (a missing credential,
// a bad button) in the audit log.
func (s *Service) Record(ctx context.Context, c Caller, cmd, target string, rep Reply) {
	s.record(ctx, c, cmd, target, rep)
}

func target(r *Request) string {
	switch {
	case r.Incident > 0:
		return fmt.Sprintf("#%d", r.Incident)
	case len(r.Matchers) > 0:
		return strings.Join(r.Matchers, " ")
	case r.Window > 0:
		return fmt.Sprintf("window #%d", r.Window)
	case r.Plan > 0:
		return fmt.Sprintf("plan %d", r.Plan)
	case r.Run > 0:
		return fmt.Sprintf("run #%d", r.Run)
	case r.Target != "":
		return strings.TrimSpace(r.Target + " " + r.Rev)
	}
	return ""
}

func (s *Service) record(ctx context.Context, c Caller, cmd, target string, rep Reply) {
	if s.Audit == nil {
		return
	}
	actor := c.Actor
	if c.Principal != "" && c.Principal != c.Actor {
		actor += " (" + c.Principal + ")"
	}
	e := incidents.AuditEntry{
		At: s.now().UTC(), Actor: actor, Via: c.Via, Command: cmd, Target: target,
		Allowed: rep.Kind != Forbidden && rep.Kind != Unauthenticated,
		Result:  fmt.Sprintf("%d %s", rep.Kind.HTTPStatus(), rep.Message),
	}
	if err := s.Audit.RecordAudit(context.WithoutCancel(ctx), e); err != nil {
		s.Log.Error("audit log", "err", err)
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) internal(what string, err error) Reply {
	s.Log.Error(what, "err", err)
	return fail(Internal, "internal error; the details are in opsbot's log")
}

// incident loads an incident.
func (s *Service) incident(ctx context.Context, id int64) (*incidents.Incident, Reply, bool) {
	if id < 1 {
		return nil, fail(Invalid, "%d is not an incident id (a positive number, as in #42)", id), false
	}
	inc, err := s.Reader.Incident(ctx, id)
	if errors.Is(err, incidents.ErrNotFound) {
		return nil, fail(NotFound, "%s", err), false
	}
	if err != nil {
		return nil, s.internal("load incident", err), false
	}
	return inc, Reply{}, true
}

var stateFilters = map[string][]incidents.State{
	"open":         {incidents.Triggered, incidents.Acknowledged},
	"triggered":    {incidents.Triggered},
	"acknowledged": {incidents.Acknowledged},
	"resolved":     {incidents.Resolved},
	"all":          nil,
}

// States are the names a listing filters by.
var States = []string{"open", "triggered", "acknowledged", "resolved", "all"}

func (s *Service) list(ctx context.Context, _ *Caller, r *Request) Reply {
	state := r.State
	if state == "" {
		state = "open"
	}
	states, ok := stateFilters[state]
	if !ok {
		return fail(Invalid, "state: must be open, triggered, acknowledged, resolved or all, not %q", state)
	}
	limit := r.Limit
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > 500 || r.Before < 0 {
		return fail(Invalid, "limit: must be between 1 and 500")
	}
	page, err := s.Reader.ListIncidents(ctx, incidents.Filter{States: states, Before: r.Before, Limit: limit})
	if err != nil {
		return s.internal("list incidents", err)
	}
	return Reply{Message: fmt.Sprintf("%d %s incidents", len(page.Incidents), state), Page: &page}
}

func (s *Service) show(ctx context.Context, _ *Caller, r *Request) Reply {
	inc, rep, ok := s.incident(ctx, r.Incident)
	if !ok {
		return rep
	}
	return Reply{Message: fmt.Sprintf("incident #%d: %s", inc.ID, inc.Title), Incident: inc}
}

// act executes ack, unack, resolve, comment and snooze.
func (s *Service) act(ctx context.Context, c *Caller, r *Request, v incidents.Verb) Reply {
	cmd := &incidents.Command{ID: r.ID, IncidentID: r.Incident, Verb: v, Actor: c.Actor, Origin: c.Origin, Text: r.Text}
	if cmd.ID == "" {
		cmd.ID = s.NewID()
	}
	if r.Duration != "" {
		d, err := time.ParseDuration(r.Duration)
		if err != nil {
			return fail(Invalid, "duration: %q is not a duration such as 30m or 2h", r.Duration)
		}
		cmd.Duration = d
	}
	if err := cmd.Validate(s.Rules.MaxSnooze); err != nil {
		return fail(Invalid, "%s", err)
	}
	if r.Once {
		if _, used, err := s.Reader.Outcome(ctx, (&incidents.Envelope{Command: cmd}).ID()); err != nil {
			return s.internal("outcome", err)
		} else if used {
			return fail(Conflict, "this button was already used")
		}
	}
	// Refuse what the incident's state already rules out, before anything
	// is stored; the reducer checks again against the state it applies to.
	inc, rep, ok := s.incident(ctx, r.Incident)
	if !ok {
		return rep
	}
	if err := cmd.Check(inc); err != nil {
		return fail(Conflict, "%s", err)
	}
	return s.apply(ctx, cmd, r.Once)
}

// apply publishes a command and answers with what the reducer did.
func (s *Service) apply(ctx context.Context, c *incidents.Command, once bool) Reply {
	env := incidents.Envelope{Command: c}
	id := env.ID()
	result, cancel := s.Waiter.Expect(id)
	defer cancel()
	if err := s.Publisher.PublishCommand(ctx, c); err != nil {
		s.Log.Error("publish command failed", "incident", c.IncidentID, "verb", c.Verb, "err", err)
		return fail(Unavailable, "the event bus could not store the command; retry later")
	}
	o, ok := s.Await(ctx, id, result)
	switch {
	case !ok:
		return Reply{Kind: Stored, EventID: id, Message: fmt.Sprintf("stored; incident #%d will be updated shortly", c.IncidentID)}
	case o.Duplicate && once:
		return fail(Conflict, "this button was already used")
	case o.Refusal != "":
		return Reply{Kind: Conflict, EventID: id, Message: o.Refusal}
	}
	inc, rep, ok := s.incident(ctx, c.IncidentID)
	if !ok {
		return rep
	}
	return Reply{EventID: id, Outcome: o.Outcome, Incident: inc, Message: fmt.Sprintf("incident #%d %s", c.IncidentID, o.Outcome)}
}

// Await waits up to WaitTimeout for the reducer's outcome of message id,
// expected on result; false if there is none yet.
func (s *Service) Await(ctx context.Context, id string, result <-chan incidents.Outcome) (incidents.Outcome, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.WaitTimeout)
	defer cancel()
	select {
	case o := <-result:
		return o, true
	case <-ctx.Done():
		// Another opsbot on the same stream may have applied it.
		o, ok, err := s.Reader.Outcome(context.WithoutCancel(ctx), id)
		return o, ok && err == nil
	}
}

func itoa(n int64) string { return fmt.Sprint(n) }
