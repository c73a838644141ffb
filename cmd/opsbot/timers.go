package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// timerStore is where timers are kept.
type timerStore interface {
	DueTimers(ctx context.Context, now time.Time, limit int) ([]incidents.Timer, error)
	NextTimer(ctx context.Context) (time.Time, bool, error)
}

// commandPublisher stores commands on the bus.
type commandPublisher interface {
	PublishCommand(ctx context.Context, c *incidents.Command) error
}

// runTimers publishes each due timer as a command for the reducer, within
// a second of its time. A timer's command id names the timer and its due
// time, so publishing it twice applies it once.
func runTimers(ctx context.Context, st timerStore, pub commandPublisher, wake <-chan struct{}, log *slog.Logger) {
	published := map[string]time.Time{}
	for {
		now := time.Now()
		due, err := st.DueTimers(ctx, now, 200)
		if err != nil && ctx.Err() == nil {
			log.Error("timers", "err", err)
		}
		for _, t := range due {
			id := fmt.Sprintf("timer-%d-%s-%d", t.IncidentID, t.Kind, t.DueAt.UnixNano())
			if _, ok := published[id]; ok {
				continue // stored; the reducer has not applied it yet
			}
			c := &incidents.Command{ID: id, IncidentID: t.IncidentID, Verb: incidents.Fire, Actor: "opsbot", Origin: "timer", Timer: t.Kind, DueAt: t.DueAt}
			if err := pub.PublishCommand(ctx, c); err != nil {
				if ctx.Err() == nil {
					log.Warn("timers: publish", "err", err)
				}
				break
			}
			published[id] = now
		}
		for id, at := range published {
			if now.Sub(at) > time.Minute {
				delete(published, id)
			}
		}
		wait := time.Second
		if next, ok, err := st.NextTimer(ctx); err == nil && ok {
			if d := time.Until(next); d > 0 && d < wait {
				wait = d
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}
