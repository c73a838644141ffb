package main

import (
	"testing"

	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/incidents"
)

func TestSourceHooks(t *testing.T) {
	cfg := config.Default()
	cfg.Sources.Gatus.Enabled = false
	cfg.Sources.Diun.Token = "diun-token-0123456789"
	names := map[string]int{}
	for _, h := range sourceHooks(&cfg.Sources, incidents.Warning) {
		names[h.Name] = len(h.Tokens)
		if h.Decode == nil {
			t.Fatalf("%s has no decoder", h.Name)
		}
	}
	want := map[string]int{"alertmanager": 0, "uptime-kuma": 0, "diun": 1, "drift": 0}
	if len(names) != len(want) {
		t.Fatalf("hooks %v, want %v", names, want)
	}
	for n, tokens := range want {
		if got, ok := names[n]; !ok || got != tokens {
			t.Fatalf("hooks %v, want %v", names, want)
		}
	}
}
