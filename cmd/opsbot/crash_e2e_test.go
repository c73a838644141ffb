package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// burstPayload is Alertmanager webhook i of a burst: 10 alerts, unique
// fingerprints, spread over 40 groups.
func burstPayload(i int, started time.Time) map[string]any {
	group := fmt.Sprintf("Burst%02d", i%40)
	var alerts []map[string]any
	for j := range 10 {
		alerts = append(alerts, map[string]any{
			"status":      "firing",
			"labels":      map[string]string{"alertname": group, "instance": fmt.Sprintf("host-%d-%d", i, j), "severity": "warning"},
			"annotations": map[string]string{"summary": fmt.Sprintf("alert %d-%d", i, j)},
			"startsAt":    started.Format(time.RFC3339Nano),
			"endsAt":      "0001-01-01T00:00:00Z",
			"fingerprint": fmt.Sprintf("%04d%02d", i, j),
		})
	}
	return map[string]any{
		"version": "4", "status": "firing", "receiver": "opsbot", "groupKey": fmt.Sprintf(`{}:{alertname="%s"}`, group),
		"groupLabels": map[string]string{"alertname": group}, "alerts": alerts,
	}
}

// TestCrashLosesNothing kills opsbot in the middle of a burst of 4000
// alerts; after a restart every alert that was answered 2xx belongs to
// exactly one incident and nothing was applied twice.
func TestCrashLosesNothing(t *testing.T) {
	for _, mode := range []string{"kill -9", "two SIGTERMs"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			config := writeConfig(t, dir, "")
			p := start(t, config)
			const webhooks = 400
			started := time.Now().UTC()
			bodies := make([][]byte, webhooks)
			for i := range bodies {
				bodies[i] = mustJSON(t, burstPayload(i, started))
			}
			var (
				accepted = make([]atomic.Bool, webhooks)
				nAcc     atomic.Int64
				next     atomic.Int64
				wg       sync.WaitGroup
				killed   = make(chan struct{})
				once     sync.Once
			)
			kill := func() {
				if mode == "kill -9" {
					p.cmd.Process.Kill()
				} else {
					p.cmd.Process.Signal(syscall.SIGTERM)
					p.cmd.Process.Signal(syscall.SIGTERM)
				}
				close(killed)
			}
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= webhooks {
							return
						}
						code, err := p.post("/hooks/alertmanager", bodies[i])
						if err == nil && code/100 == 2 {
							accepted[i].Store(true)
							if nAcc.Add(1) == 120 {
								once.Do(kill)
							}
						}
					}
				}()
			}
			wg.Wait()
			once.Do(kill)
			<-killed
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				t.Fatal("opsbot did not exit")
			}
			if mode == "two SIGTERMs" && p.cmd.ProcessState.ExitCode() == 0 && !contains(p.log(), "database closed") {
				t.Fatalf("exited 0 without closing the database:\n%s", p.log())
			}
			acc := int(nAcc.Load())
			if acc == webhooks {
				t.Fatalf("all %d webhooks were accepted: the crash came too late to test anything", webhooks)
			}
			t.Logf("%s after %d of %d webhooks were accepted", mode, acc, webhooks)

			p = start(t, config)
			// Alertmanager retries what it did not see answered: send some
			// accepted ones again, as it would after a timeout.
			for i := 0; i < webhooks; i += 7 {
				if accepted[i].Load() {
					if code, err := p.post("/hooks/alertmanager", bodies[i]); err != nil || code != 202 {
						t.Fatalf("retry %d: %d %v", i, code, err)
					}
				}
			}
			p.settle(60 * time.Second)

			alerts := map[string]int{} // dedup key -> incidents holding it
			fired := map[string]int{}  // summary -> alert_firing entries
			for _, inc := range p.all() {
				firing := 0
				for _, a := range inc.Alerts {
					alerts[a.DedupKey]++
					if a.Status == incidents.AlertFiring {
						firing++
					}
				}
				if firing != inc.FiringAlerts {
					t.Fatalf("incident #%d counts %d firing alerts but holds %d", inc.ID, inc.FiringAlerts, firing)
				}
				for _, e := range inc.Timeline {
					if e.Kind == incidents.KindAlertFiring {
						fired[e.Detail]++
					}
				}
			}
			for i := range webhooks {
				for j := range 10 {
					key, summary := fmt.Sprintf("%04d%02d", i, j), fmt.Sprintf("alert %d-%d", i, j)
					if accepted[i].Load() && alerts[key] != 1 {
						t.Fatalf("accepted alert %s is in %d incidents", key, alerts[key])
					}
					if alerts[key] > 1 || fired[summary] != alerts[key] {
						t.Fatalf("alert %s: in %d incidents, fired %d times", key, alerts[key], fired[summary])
					}
				}
			}
			t.Logf("%d alerts stored (%d accepted), each in exactly one incident, each applied once", len(alerts), acc*10)
		})
	}
}
