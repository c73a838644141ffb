package incidents

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Window is a maintenance window: incidents it matches are recorded as
// usual, but people are not told until it ends.
type Window struct {
	ID        int64     `json:"id"`
	Matchers  []string  `json:"matchers"`
	Comment   string    `json:"comment,omitempty"`
	CreatedBy string    `json:"created_by"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`

	matchers []matcher
}

type matcher struct {
	name  string
	value string
	re    *regexp.Regexp // for name=~regex
}

// ParseMatchers reads matchers as "name=value" or "name=~regex". The names
// are an incident's labels, and "source" and "severity".
func ParseMatchers(list []string) ([]matcher, error) {
	if len(list) == 0 {
		return nil, invalid("matchers", "a window needs at least one matcher, such as host=nas")
	}
	out := make([]matcher, 0, len(list))
	for _, s := range list {
		name, value, ok := strings.Cut(s, "=")
		if !ok || name == "" || len(s) > MaxLabelLen {
			return nil, invalid("matchers", "%q is not name=value or name=~regex", s)
		}
		m := matcher{name: strings.TrimSpace(name), value: value}
		if rest, ok := strings.CutPrefix(value, "~"); ok {
			re, err := regexp.Compile("^(?:" + rest + ")$")
			if err != nil {
				return nil, invalid("matchers", "%q: %v", s, err)
			}
			m.re = re
		}
		out = append(out, m)
	}
	return out, nil
}

// Compile prepares the window's matchers.
func (w *Window) Compile() error {
	m, err := ParseMatchers(w.Matchers)
	w.matchers = m
	return err
}

// Active reports whether the window holds notifications at time at.
func (w *Window) Active(at time.Time) bool { return !at.Before(w.StartsAt) && at.Before(w.EndsAt) }

// Matches reports whether every matcher matches the incident.
func (w *Window) Matches(inc *Incident) bool {
	for _, m := range w.matchers {
		var v string
		switch m.name {
		case "source":
			v = inc.Source
		case "severity":
			v = string(inc.Severity)
		default:
			v = inc.Labels[m.name]
		}
		if m.re != nil && !m.re.MatchString(v) || m.re == nil && v != m.value {
			return false
		}
	}
	return len(w.matchers) > 0
}

// Release is what a window's end does to an incident it held: it is shown
// again if still open, and a resolution is shown where it was shown before.
func (r Rules) Release(inc *Incident, window int64, at time.Time) Change {
	if !inc.Held {
		return ignored("incident #%d is not held", inc.ID)
	}
	inc = cloneIncident(inc)
	inc.Held = false
	ch := Change{Outcome: "released", Incident: inc, OnlyShown: inc.State == Resolved}
	ch.Timeline = append(ch.Timeline, Entry{At: at, Kind: KindReleased, Actor: "opsbot", Origin: "maintenance",
		Detail: fmt.Sprintf("maintenance window #%d ended; the incident is %s", window, inc.State)})
	return ch
}

// ErrNoWindow is returned for a maintenance window that does not exist.
var ErrNoWindow = errors.New("no such maintenance window")
