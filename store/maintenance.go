package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

const windowCols = `id, matchers, comment, created_by, starts_at, ends_at`

func scanWindow(row rowScanner) (incidents.Window, error) {
	var (
		w            incidents.Window
		matchers     string
		starts, ends int64
	)
	if err := row.Scan(&w.ID, &matchers, &w.Comment, &w.CreatedBy, &starts, &ends); err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(matchers), &w.Matchers); err != nil {
		return w, fmt.Errorf("window %d matchers: %w", w.ID, err)
	}
	w.StartsAt, w.EndsAt = fromNanos(starts), fromNanos(ends)
	return w, w.Compile()
}

// CreateWindow stores a new maintenance window and sets its id.
func (s *Store) CreateWindow(ctx context.Context, w *incidents.Window) error {
	if err := w.Compile(); err != nil {
		return err
	}
	m, err := json.Marshal(w.Matchers)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO maintenance (matchers, comment, created_by, starts_at, ends_at) VALUES (?, ?, ?, ?, ?)`,
		string(m), w.Comment, w.CreatedBy, nanos(w.StartsAt), nanos(w.EndsAt))
	if err != nil {
		return fmt.Errorf("store: create window: %w", err)
	}
	w.ID, err = res.LastInsertId()
	return err
}

// Windows lists maintenance windows ending after since, newest first.
func (s *Store) Windows(ctx context.Context, since time.Time) ([]incidents.Window, error) {
	return s.windows(ctx, s.r, `SELECT `+windowCols+` FROM maintenance WHERE ends_at > ? ORDER BY id DESC LIMIT 500`, nanos(since))
}

func (s *Store) windows(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]incidents.Window, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: windows: %w", err)
	}
	defer rows.Close()
	out := []incidents.Window{}
	for rows.Next() {
		w, err := scanWindow(rows)
		if err != nil {
			return nil, fmt.Errorf("store: windows: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// EndWindow ends a window at at (if it would end later).
func (s *Store) EndWindow(ctx context.Context, id int64, at time.Time) (incidents.Window, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE maintenance SET ends_at = min(ends_at, ?) WHERE id = ?`, nanos(at), id)
	if err != nil {
		return incidents.Window{}, fmt.Errorf("store: end window %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return incidents.Window{}, incidents.ErrNoWindow
	}
	return scanWindow(s.w.QueryRowContext(ctx, `SELECT `+windowCols+` FROM maintenance WHERE id = ?`, id))
}

// EndedWindows are windows over by now whose held incidents have not been
// released yet.
func (s *Store) EndedWindows(ctx context.Context, now time.Time) ([]incidents.Window, error) {
	return s.windows(ctx, s.r, `SELECT `+windowCols+` FROM maintenance WHERE released = 0 AND ends_at <= ? ORDER BY ends_at`, nanos(now))
}

// HeldIncidents are the incidents a window keeps quiet.
func (s *Store) HeldIncidents(ctx context.Context) ([]*incidents.Incident, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE held = 1`)
	if err != nil {
		return nil, fmt.Errorf("store: held incidents: %w", err)
	}
	defer rows.Close()
	var out []*incidents.Incident
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("store: held incidents: %w", err)
		}
		out = append(out, inc)
	}
	return out, rows.Err()
}

// WindowReleased records that a window's held incidents were released.
func (s *Store) WindowReleased(ctx context.Context, id int64) error {
	_, err := s.w.ExecContext(ctx, `UPDATE maintenance SET released = 1 WHERE id = ?`, id)
	return err
}
