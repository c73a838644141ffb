package deploy

import (
	"regexp"
	"strings"
)

// Scrubber takes secrets out of output before it is kept or shown: the
// configured secrets wherever they appear, and what looks like one.
type Scrubber struct {
	secrets []string
}

// patterns look like credentials whoever configured them.
var patterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)(authorization:\s*(bearer|basic|bot)\s+)\S+`), "${1}<secret>"},
	{regexp.MustCompile(`(?i)((password|passwd|token|secret|api[_-]?key)\s*[=:]\s*)\S+`), "${1}<secret>"},
	{regexp.MustCompile(`(://[^/\s:@]+:)[^@\s/]+(@)`), "${1}<secret>${2}"},
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----.*`), "<private key>"},
}

// NewScrubber scrubs secrets (those shorter than 6 bytes are ignored: they
// would scrub ordinary words).
func NewScrubber(secrets ...string) *Scrubber {
	s := &Scrubber{}
	for _, x := range secrets {
		if len(x) >= 6 {
			s.secrets = append(s.secrets, x)
		}
	}
	return s
}

// Line scrubs one line.
func (s *Scrubber) Line(line string) string {
	if s == nil {
		return line
	}
	for _, x := range s.secrets {
		line = strings.ReplaceAll(line, x, "<secret>")
	}
	for _, p := range patterns {
		line = p.re.ReplaceAllString(line, p.with)
	}
	return line
}
