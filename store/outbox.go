package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
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

// NotificationSent marks a notification delivered, unless the incident
// changed since n was read: then it stays pending and is sent again.
func (s *Store) NotificationSent(ctx context.Context, n Notification, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE outbox SET state = 'sent', done_at = ?, attempts = attempts + 1, last_error = ''
		WHERE id = ? AND state = 'pending' AND version = ?`, nanos(at), n.ID, n.Version)
	if err != nil {
		return fmt.Errorf("store: notification %d sent: %w", n.ID, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		_, err = s.w.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = '' WHERE id = ?`, n.ID)
	}
	return err
}

// NotificationFailed records a failed attempt: the notification is tried
// again at next, or given up if giveUp.
func (s *Store) NotificationFailed(ctx context.Context, id int64, errText string, next time.Time, giveUp bool, at time.Time) error {
	var err error
	if giveUp {
		_, err = s.w.ExecContext(ctx, `UPDATE outbox SET state = 'given_up', done_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ? AND state = 'pending'`, nanos(at), errText, id)
	} else {
		_, err = s.w.ExecContext(ctx, `UPDATE outbox SET next_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ? AND state = 'pending'`, nanos(next), errText, id)
	}
	if err != nil {
		return fmt.Errorf("store: notification %d failed: %w", id, err)
	}
	return nil
}
