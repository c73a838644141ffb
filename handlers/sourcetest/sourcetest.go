// Package sourcetest holds what every source decoder's tests share.
package sourcetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opsbot/opsbot/incidents"
)

// Decoder is a source's DecodeEvents.
type Decoder func(body []byte, delivery string) ([]*incidents.Event, error)

// Fuzz runs decode on the files matching testdata/glob and on what the
// fuzzer makes of them: no input may panic it, and what it accepts must be
// valid events with ids.
func Fuzz(f *testing.F, glob string, decode Decoder) {
	files, _ := filepath.Glob(filepath.Join("testdata", glob))
	if len(files) == 0 {
		f.Fatalf("no testdata/%s", glob)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := decode(body, "delivery")
		if err != nil {
			return
		}
		for _, ev := range evs {
			if err := ev.Validate(incidents.Warning); err != nil || ev.ID == "" {
				t.Fatalf("invalid event %+v: %v", ev, err)
			}
		}
	})
}

// Rejects checks that each body is refused with an error that contains
// the text given for it.
func Rejects(t *testing.T, decode Decoder, bodies map[string]string) {
	t.Helper()
	for body, want := range bodies {
		if _, err := decode([]byte(body), "delivery"); err == nil || !contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one that says %q", body, err, want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
