package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// BenchmarkApply measures the reducer's transactions alone: batches of 256
// trigger events in runs of 10 per group (as an Alertmanager webhook brings
// them) over 100 groups, on a real SQLite file.
func BenchmarkApply(b *testing.B) {
	for _, sync := range []string{"full", "normal"} {
		b.Run("synchronous="+sync, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "opsbot.db"), Options{Synchronous: sync, Rules: incidents.DefaultRules()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const batch = 256
			at := time.Now()
			b.ResetTimer()
			for n := 0; n < b.N; n += batch {
				b.StopTimer()
				envs := make([]incidents.Envelope, 0, batch)
				for i := n; i < n+batch; i++ {
					ev := &incidents.Event{ID: fmt.Sprint(i), Source: "bench", Action: incidents.Trigger,
						DedupKey: fmt.Sprintf("alert-%d", i), GroupKey: fmt.Sprintf("group-%d", (i/10)%100),
						Summary: fmt.Sprintf("alert %d", i), Labels: map[string]string{"instance": fmt.Sprint(i), "severity": "warning"}}
					ev.Validate(incidents.Warning)
					envs = append(envs, incidents.Envelope{Event: ev, At: at, Origin: "bench"})
				}
				b.StartTimer()
				if _, err := s.Apply(context.Background(), envs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
