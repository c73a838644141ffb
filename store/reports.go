package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opsbot/opsbot/report"
)

// CreateReport stores a report and sets its id.
func (s *Store) CreateReport(ctx context.Context, r *report.Report) error {
	body, _ := json.Marshal(r)
	res, err := s.w.ExecContext(ctx, `INSERT INTO reports (kind, created_at, state, body) VALUES (?, ?, ?, ?)`, r.Kind, nanos(r.CreatedAt), r.State, string(body))
	if err != nil {
		return fmt.Errorf("store: report: %w", err)
	}
	r.ID, err = res.LastInsertId()
	return err
}

// UpdateReport stores what came of a report.
func (s *Store) UpdateReport(ctx context.Context, r *report.Report) error {
	body, _ := json.Marshal(r)
	if _, err := s.w.ExecContext(ctx, `UPDATE reports SET state = ?, body = ? WHERE id = ?`, r.State, string(body), r.ID); err != nil {
		return fmt.Errorf("store: report %d: %w", r.ID, err)
	}
	return nil
}

// Report returns a report.
func (s *Store) Report(ctx context.Context, id int64) (*report.Report, error) {
	var body string
	err := s.r.QueryRowContext(ctx, `SELECT body FROM reports WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, report.ErrNoReport
	}
	if err != nil {
		return nil, fmt.Errorf("store: report %d: %w", id, err)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, err
	}
	r.ID = id
	return &r, nil
}

// Reports lists reports, newest first, without their bodies.
func (s *Store) Reports(ctx context.Context, limit int) ([]report.Report, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, body FROM reports ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: reports: %w", err)
	}
	defer rows.Close()
	out := []report.Report{}
	for rows.Next() {
		var (
			id   int64
			body string
			r    report.Report
		)
		if err := rows.Scan(&id, &body); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return nil, err
		}
		r.ID, r.Body = id, ""
		out = append(out, r)
	}
	return out, rows.Err()
}

// FailUnfinishedReports marks reports still running as failed.
func (s *Store) FailUnfinishedReports(ctx context.Context, why string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE reports SET state = 'failed', body = json_set(body, '$.state', 'failed', '$.error', ?)
		WHERE state = 'running'`, why)
	return err
}
