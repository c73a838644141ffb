package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

// Notification is one outbox row: tell Target about Incident.
type Notification struct {
	ID         int64      `json:"id"`
	Target     string     `json:"target"`
	IncidentID int64      `json:"incident_id"`
	State      string     `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	NextAt     time.Time  `json:"next_at"`
	Attempts   int        `json:"attempts"`
	Version    int64      `json:"-"`
	LastError  string     `json:"last_error,omitempty"`
	DoneAt     *time.Time `json:"done_at,omitempty"`
}

const outboxCols = `id, target, incident_id, state, created_at, next_at, attempts, version, last_error, done_at`

func scanNotification(row rowScanner) (Notification, error) {
	var (
		n             Notification
		created, next int64
		done          sql.NullInt64
	)
	err := row.Scan(&n.ID, &n.Target, &n.IncidentID, &n.State, &created, &next, &n.Attempts, &n.Version, &n.LastError, &done)
	n.CreatedAt, n.NextAt, n.DoneAt = fromNanos(created), fromNanos(next), fromNull(done)
	return n, err
}

// DueNotifications returns pending notifications due by now, oldest first.
func (s *Store) DueNotifications(ctx context.Context, now time.Time, limit int) ([]Notification, error) {
	return s.notifications(ctx, `SELECT `+outboxCols+` FROM outbox WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?`, nanos(now), limit)
}

// NextNotification is when the next pending notification is due; false if none is.
func (s *Store) NextNotification(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT min(next_at) FROM outbox WHERE state = 'pending'`).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next notification: %w", err)
	}
	return fromNanos(next.Int64), next.Valid, nil
}

// ListNotifications lists notifications in a state ("" for all), newest first.
func (s *Store) ListNotifications(ctx context.Context, state string, limit int) ([]Notification, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	if state == "" {
		return s.notifications(ctx, `SELECT `+outboxCols+` FROM outbox ORDER BY id DESC LIMIT ?`, limit)
	}
	return s.notifications(ctx, `SELECT `+outboxCols+` FROM outbox WHERE state = ? ORDER BY id DESC LIMIT ?`, state, limit)
}

func (s *Store) notifications(ctx context.Context, q string, args ...any) ([]Notification, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: notifications: %w", err)
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, fmt.Errorf("store: notifications: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Attempt is the result of sending a notification.
type Attempt struct {
	N    Notification
	Sent bool
	// A failed attempt is tried again at Next, or given up.
	Err    string
	Next   time.Time
	GiveUp bool
}

// RecordAttempts writes the results of a round of sending in one
// transaction. A notification whose incident changed since it was read
// stays pending and is sent again.
func (s *Store) RecordAttempts(ctx context.Context, attempts []Attempt, at time.Time) error {
	if len(attempts) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: record attempts: %w", err)
	}
	defer tx.Rollback()
	for _, a := range attempts {
		var err error
		switch {
		case a.Sent:
			var res sql.Result
			res, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'sent', done_at = ?, attempts = attempts + 1, last_error = ''
				WHERE id = ? AND state = 'pending' AND version = ?`, nanos(at), a.N.ID, a.N.Version)
			if k, _ := res.RowsAffected(); err == nil && k == 0 {
				_, err = tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = '' WHERE id = ?`, a.N.ID)
			}
		case a.GiveUp:
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET state = 'given_up', done_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ? AND state = 'pending'`, nanos(at), a.Err, a.N.ID)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE outbox SET next_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ? AND state = 'pending'`, nanos(a.Next), a.Err, a.N.ID)
		}
		if err != nil {
			return fmt.Errorf("store: record attempt on notification %d: %w", a.N.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record attempts: %w", err)
	}
	return nil
}

// NotificationRef is what target knows incident id's notification by.
func (s *Store) NotificationRef(ctx context.Context, target string, id int64) (string, bool, error) {
	var ref string
	err := s.r.QueryRowContext(ctx, `SELECT ref FROM notification_refs WHERE target = ? AND incident_id = ?`, target, id).Scan(&ref)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: notification ref: %w", err)
	}
	return ref, true, nil
}

// SetNotificationRef keeps what target knows incident id's notification by.
func (s *Store) SetNotificationRef(ctx context.Context, target string, id int64, ref string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO notification_refs (target, incident_id, ref) VALUES (?, ?, ?)
		ON CONFLICT (target, incident_id) DO UPDATE SET ref = excluded.ref`, target, id, ref)
	if err != nil {
		return fmt.Errorf("store: set notification ref: %w", err)
	}
	return nil
}

// DueTimers returns the timers due by now, soonest first.
func (s *Store) DueTimers(ctx context.Context, now time.Time, limit int) ([]incidents.Timer, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT incident_id, kind, due_at FROM timers WHERE due_at <= ? ORDER BY due_at LIMIT ?`, nanos(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due timers: %w", err)
	}
	defer rows.Close()
	var out []incidents.Timer
	for rows.Next() {
		var (
			t   incidents.Timer
			due int64
		)
		if err := rows.Scan(&t.IncidentID, &t.Kind, &due); err != nil {
			return nil, fmt.Errorf("store: due timers: %w", err)
		}
		t.DueAt = fromNanos(due)
		out = append(out, t)
	}
	return out, rows.Err()
}

// NextTimer is when the next timer is due; false if there is none.
func (s *Store) NextTimer(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT min(due_at) FROM timers`).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next timer: %w", err)
	}
	return fromNanos(next.Int64), next.Valid, nil
}
