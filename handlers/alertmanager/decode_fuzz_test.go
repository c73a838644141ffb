package alertmanager

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opsbot/opsbot/incidents"
)

// FuzzDecode: no input panics the decoder, and whatever it
// accepts becomes valid events with stable ids.
func FuzzDecode(f *testing.F) {
	seeds(f)
	src := &Source{SeverityLabel: "severity", DefaultSeverity: incidents.Warning,
		Severities: map[string]string{"critical": "critical", "warning": "warning"}}
	grouped := &Source{GroupBy: []string{"instance", "alertname"}, SeverityLabel: "severity", DefaultSeverity: incidents.Info}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(body)
		if err != nil {
			return
		}
		for _, s := range []*Source{src, grouped} {
			evs, err := s.Events(m)
			if err != nil {
				continue
			}
			again, err := s.Events(m)
			if err != nil || len(again) != len(evs) || len(evs) != len(m.Alerts) {
				t.Fatalf("not deterministic: %v", err)
			}
			for i, ev := range evs {
				if ev.ID == "" || ev.ID != again[i].ID || ev.GroupKey == "" || !ev.Severity.Valid() {
					t.Fatalf("event %d: %+v", i, ev)
				}
				if err := ev.Validate(incidents.Warning); err != nil {
					t.Fatalf("event %d does not validate: %v", i, err)
				}
			}
		}
	})
}

// seeds adds the recorded payloads to a fuzz target's corpus.
func seeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

var errMore = errors.New("more than one value")

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
