package incidents

import (
	"slices"
	"testing"
)

func TestRoutes(t *testing.T) {
	r := &Routes{
		Routes: []Route{
			{Severities: []Severity{Critical}, Labels: map[string]string{"env": "prod"}, Targets: []string{"phone"}, Continue: true},
			{Sources: []string{"diun", "version-checker"}, Targets: []string{"updates"}},
			{Severities: []Severity{Critical, Warning}, Targets: []string{"ops"}},
		},
		Default: []string{"log"},
	}
	for _, tt := range []struct {
		inc  Incident
		want []string
	}{
		{Incident{Severity: Critical, Source: "alertmanager", Labels: map[string]string{"env": "prod"}}, []string{"phone", "ops"}},
		{Incident{Severity: Critical, Source: "alertmanager", Labels: map[string]string{"env": "lab"}}, []string{"ops"}},
		{Incident{Severity: Info, Source: "diun"}, []string{"updates"}},
		{Incident{Severity: Info, Source: "gatus"}, []string{"log"}},
	} {
		if got := r.Targets(&tt.inc); !slices.Equal(got, tt.want) {
			t.Errorf("%+v: %v, want %v", tt.inc, got, tt.want)
		}
	}
}
