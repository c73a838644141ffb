package incidents

import (
	"errors"
	"testing"
	"time"
)

func TestWindows(t *testing.T) {
	inc := &Incident{ID: 4, Source: "drift", Severity: Warning, State: Triggered, Labels: map[string]string{"host": "backup-1", "env": "prod"}}
	for _, tt := range []struct {
		matchers []string
		want     bool
	}{
		{[]string{"host=backup-1"}, true},
		{[]string{"host=backup"}, false},
		{[]string{"host=~back.*", "source=drift"}, true},
		{[]string{"host=~back", "source=drift"}, false}, // anchored
		{[]string{"severity=warning", "env=prod"}, true},
		{[]string{"severity=critical"}, false},
		{[]string{"missing="}, true}, // an absent label is empty
	} {
		w := &Window{Matchers: tt.matchers}
		if err := w.Compile(); err != nil {
			t.Fatal(err)
		}
		if got := w.Matches(inc); got != tt.want {
			t.Errorf("%v: %v", tt.matchers, got)
		}
	}
	for _, bad := range [][]string{nil, {"nonsense"}, {"=x"}, {"host=~("}} {
		w := &Window{Matchers: bad}
		var ie *InvalidError
		if err := w.Compile(); !errors.As(err, &ie) {
			t.Errorf("%v: %v", bad, err)
		}
	}
	w := &Window{StartsAt: t0, EndsAt: t0.Add(time.Hour)}
	if !w.Active(t0) || w.Active(t0.Add(time.Hour)) || w.Active(t0.Add(-time.Second)) {
		t.Fatal("active")
	}
	r := DefaultRules()
	if ch := r.Release(inc, 1, t0); ch.Incident != nil {
		t.Fatal("released an incident that was not held")
	}
	inc.Held = true
	if ch := r.Release(inc, 1, t0); ch.Incident == nil || ch.Incident.Held || ch.OnlyShown || inc.Held == false {
		t.Fatalf("release: %+v", ch)
	}
	inc.State = Resolved
	if ch := r.Release(inc, 1, t0); !ch.OnlyShown {
		t.Fatal("a resolved incident's release should go only where it was shown")
	}
}

// FuzzMatchers: no matcher from outside panics the parser or the match.
func FuzzMatchers(f *testing.F) {
	for _, s := range []string{"host=nas", "host=~back.*", "=", "a=~(", "severity=critical", "x=~.*\x00"} {
		f.Add(s)
	}
	inc := &Incident{Source: "drift", Severity: Warning, Labels: map[string]string{"host": "nas"}}
	f.Fuzz(func(t *testing.T, m string) {
		w := &Window{Matchers: []string{m}}
		if w.Compile() == nil {
			w.Matches(inc)
		}
	})
}
