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
	EndedWindows(ctx context.Context, now time.Time) ([]incidents.Window, error)
	HeldIncidents(ctx context.Context) ([]*incidents.Incident, error)
	WindowReleased(ctx context.Context, id int64) error
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
		if err := releaseWindows(ctx, st, pub, now); err != nil && ctx.Err() == nil {
			log.Warn("maintenance: release", "err", err)
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

// releaseWindows releases, for each window that has ended, the incidents
// it held: a command each, then the window is marked released. A crash in
// between publishes them again, and the reducer applies each once.
func releaseWindows(ctx context.Context, st timerStore, pub commandPublisher, now time.Time) error {
	ended, err := st.EndedWindows(ctx, now)
	if err != nil || len(ended) == 0 {
		return err
	}
	held, err := st.HeldIncidents(ctx)
	if err != nil {
		return err
	}
	for _, w := range ended {
		for _, inc := range held {
			if !w.Matches(inc) {
				continue
			}
			c := &incidents.Command{ID: fmt.Sprintf("release-w%d-i%d", w.ID, inc.ID), IncidentID: inc.ID, Verb: incidents.Release,
				Actor: "opsbot", Origin: "maintenance", Window: w.ID}
			if err := pub.PublishCommand(ctx, c); err != nil {
				return err
			}
		}
		if err := st.WindowReleased(ctx, w.ID); err != nil {
			return err
		}
	}
	return nil
}
