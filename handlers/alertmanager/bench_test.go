package alertmanager

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// BenchmarkIntake: what one webhook of 10 alerts costs before the bus:
// decoding and checking it, and turning it into events.
func BenchmarkIntake(b *testing.B) {
	var alerts []map[string]any
	for j := range 10 {
		alerts = append(alerts, map[string]any{
			"status": "firing", "labels": map[string]string{"alertname": "Bench", "instance": fmt.Sprintf("host-%d", j), "severity": "warning", "job": "node"},
			"annotations": map[string]string{"summary": fmt.Sprintf("bench alert %d", j)}, "startsAt": time.Now().Format(time.RFC3339Nano),
			"endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph", "fingerprint": fmt.Sprintf("%016x", j),
		})
	}
	body, _ := json.Marshal(map[string]any{"version": "4", "status": "firing", "receiver": "opsbot", "groupKey": `{}:{alertname="Bench"}`,
		"groupLabels": map[string]string{"alertname": "Bench"}, "alerts": alerts})
	src := &Source{SeverityLabel: "severity", DefaultSeverity: incidents.Warning, Severities: map[string]string{"warning": "warning"}}
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	m, _ := Decode(body)
	b.Run("events", func(b *testing.B) {
		for b.Loop() {
			if _, err := src.Events(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	evs, _ := src.Events(m)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(map[string]any{"events": evs})
		}
	})
}
