package main

import (
	"github.com/opsbot/opsbot/config"
	"github.com/opsbot/opsbot/handlers"
	"github.com/opsbot/opsbot/handlers/alertmanager"
	"github.com/opsbot/opsbot/handlers/diun"
	"github.com/opsbot/opsbot/handlers/drift"
	"github.com/opsbot/opsbot/handlers/gatus"
	"github.com/opsbot/opsbot/handlers/uptimekuma"
	"github.com/opsbot/opsbot/incidents"
)

// sourceHooks makes the hooks of the enabled sources.
func sourceHooks(c *config.SourcesConfig, def incidents.Severity) []handlers.Hook {
	sev := func(s string) incidents.Severity { return incidents.Severity(s) }
	am, uk, gt, di, dr := c.Alertmanager, c.UptimeKuma, c.Gatus, c.Diun, c.Drift
	all := []struct {
		name   string
		common config.SourceCommon
		decode func([]byte, string) ([]*incidents.Event, error)
	}{
		{"alertmanager", am.SourceCommon, (&alertmanager.Source{GroupBy: am.GroupBy, SeverityLabel: am.SeverityLabel,
			Severities: am.Severities, DefaultSeverity: def, Labels: am.Labels}).DecodeEvents},
		{"uptime-kuma", uk.SourceCommon, (&uptimekuma.Source{Severity: sev(uk.Severity), GroupBy: uk.GroupBy, Labels: uk.Labels}).DecodeEvents},
		{"gatus", gt.SourceCommon, (&gatus.Source{Severity: sev(gt.Severity), GroupBy: gt.GroupBy, Labels: gt.Labels}).DecodeEvents},
		{"diun", di.SourceCommon, (&diun.Source{Page: di.Page, Severity: sev(di.Severity), Labels: di.Labels}).DecodeEvents},
		{"drift", dr.SourceCommon, (&drift.Source{Severity: sev(dr.Severity), Labels: dr.Labels}).DecodeEvents},
	}
	var hooks []handlers.Hook
	for _, s := range all {
		if !s.common.Enabled {
			continue
		}
		h := handlers.Hook{Name: s.name, Decode: s.decode}
		if s.common.Token != "" {
			h.Tokens = []handlers.Token{{Name: s.name + " hook", Value: s.common.Token.Reveal()}}
		}
		hooks = append(hooks, h)
	}
	return hooks
}
