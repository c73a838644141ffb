// Package notify delivers the outbox: for each pending notification it
// renders the incident as it is now and hands it to the target's notifier,
// at least once, with exponential backoff and jitter, a rate limit per
// target, and a time after which it gives up.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/store"
)

// Notifier tells one target about an incident's current state.
type Notifier interface {
	Notify(ctx context.Context, inc *incidents.Incident) error
}

// PermanentError is a failure no retry can fix (a 4xx answer, say): the
// notification is given up at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Store is the outbox.
type Store interface {
	DueNotifications(ctx context.Context, now time.Time, limit int) ([]store.Notification, error)
	NextNotification(ctx context.Context) (time.Time, bool, error)
	RecordAttempts(ctx context.Context, attempts []store.Attempt, at time.Time) error
	Incident(ctx context.Context, id int64) (*incidents.Incident, error)
}

// Target is a notifier and its rate limit.
type Target struct {
	Notifier Notifier
	Limit    *rate.Limiter
}

// Dispatcher delivers the outbox.
type Dispatcher struct {
	Store       Store
	Targets     map[string]Target
	GiveUpAfter time.Duration
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	SendTimeout time.Duration
	Log         *slog.Logger
	Now         func() time.Time
	// Result is told of every attempt: "sent", "failed" or "given_up".
	Result func(target, result string)
	// Concurrency is how many notifications of one target are sent at
	// once (those of one incident never are).
	Concurrency int

	once sync.Once
	wake chan struct{}
}

func (d *Dispatcher) init() { d.once.Do(func() { d.wake = make(chan struct{}, 1) }) }

// Wake makes the dispatcher look at the outbox now (after a commit).
func (d *Dispatcher) Wake() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.init()
	for {
		wait, err := d.Round(ctx)
		if err != nil && ctx.Err() == nil {
			d.Log.Error("notify: outbox", "err", err)
			wait = 5 * time.Second
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-d.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// Round sends what is due and says how long to wait for the next.
func (d *Dispatcher) Round(ctx context.Context) (time.Duration, error) {
	d.init()
	now := d.Now()
	due, err := d.Store.DueNotifications(ctx, now, 500)
	if err != nil {
		return 0, err
	}
	byTarget := map[string][]store.Notification{}
	for _, n := range due {
		byTarget[n.Target] = append(byTarget[n.Target], n)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		limitedT time.Duration
	)
	for name, list := range byTarget {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w := d.sendAll(ctx, name, list); w > 0 {
				mu.Lock()
				if limitedT == 0 || w < limitedT {
					limitedT = w
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(due) == 500 {
		return 0, nil
	}
	wait := time.Minute
	if next, ok, err := d.Store.NextNotification(ctx); err != nil {
		return 0, err
	} else if ok {
		wait = max(next.Sub(d.Now()), 0)
	}
	if limitedT > 0 && limitedT < wait {
		wait = limitedT
	}
	return wait, nil
}

// sendAll sends a target's due notifications, some at once; it returns how
// long to wait when the rate limit stopped it.
func (d *Dispatcher) sendAll(ctx context.Context, name string, list []store.Notification) time.Duration {
	t, ok := d.Targets[name]
	var (
		mu       sync.Mutex
		attempts []store.Attempt
		wg       sync.WaitGroup
		wait     time.Duration
		sem      = make(chan struct{}, max(d.Concurrency, 1))
	)
	record := func(a store.Attempt) {
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
	}
	for _, n := range list {
		if ctx.Err() != nil {
			break
		}
		if !ok {
			record(d.failed(name, n, &PermanentError{errors.New("no such target (removed from the configuration?)")}))
			continue
		}
		if t.Limit != nil {
			if r := t.Limit.Reserve(); r.Delay() > 0 {
				r.Cancel()
				wait = r.Delay()
				break
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			inc, err := d.Store.Incident(ctx, n.IncidentID)
			if err == nil {
				sctx, cancel := context.WithTimeout(ctx, d.SendTimeout)
				err = t.Notifier.Notify(sctx, inc)
				cancel()
			}
			if err != nil {
				record(d.failed(name, n, err))
				return
			}
			record(store.Attempt{N: n, Sent: true})
			if d.Result != nil {
				d.Result(name, "sent")
			}
		}()
	}
	wg.Wait()
	if err := d.Store.RecordAttempts(context.WithoutCancel(ctx), attempts, d.Now()); err != nil {
		d.Log.Error("notify: recording attempts (sent ones may be sent again)", "target", name, "err", err)
	}
	return wait
}

func (d *Dispatcher) failed(name string, n store.Notification, err error) store.Attempt {
	now := d.Now()
	var perm *PermanentError
	giveUp := errors.As(err, &perm) || now.Sub(n.CreatedAt) >= d.GiveUpAfter
	// Exponential backoff, jittered over its upper half.
	backoff := d.MinBackoff << min(n.Attempts, 20)
	if backoff > d.MaxBackoff || backoff <= 0 {
		backoff = d.MaxBackoff
	}
	backoff = backoff/2 + rand.N(backoff/2+1)
	result := "failed"
	if giveUp {
		result = "given_up"
		d.Log.Error("notify: giving up a notification", "target", name, "incident", n.IncidentID, "attempts", n.Attempts+1, "err", err)
	} else {
		d.Log.Warn("notify: will retry", "target", name, "incident", n.IncidentID, "in", backoff.Round(time.Millisecond), "err", err)
	}
	if d.Result != nil {
		d.Result(name, result)
	}
	return store.Attempt{N: n, Err: err.Error(), Next: now.Add(backoff), GiveUp: giveUp}
}
