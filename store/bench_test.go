package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// BenchmarkApply measures the reducer's transactions alone: batches of
// trigger events in runs of 10 per group (as an Alertmanager webhook brings
// them) over 100 groups, on a real SQLite file. 2560 events is a full batch
// of 256 webhooks, what the reducer takes under load.
func BenchmarkApply(b *testing.B) {
	for _, c := range []struct {
		sync  string
		batch int
	}{{"full", 256}, {"normal", 256}, {"full", 2560}} {
		b.Run(fmt.Sprintf("synchronous=%s/batch=%d", c.sync, c.batch), func(b *testing.B) {
			sync, batch := c.sync, c.batch
			s, err := Open(filepath.Join(b.TempDir(), "opsbot.db"), Options{Synchronous: sync, Rules: incidents.DefaultRules()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
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
