package store

import (
	"context"
	"fmt"

	"github.com/opsbot/opsbot/incidents"
)

// RecordAudit appends to the audit log.
func (s *Store) RecordAudit(ctx context.Context, e incidents.AuditEntry) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit (at, actor, via, command, target, allowed, result) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		nanos(e.At), e.Actor, e.Via, e.Command, e.Target, e.Allowed, e.Result)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// Audit lists the audit log, newest first, before id (0: from the newest).
func (s *Store) Audit(ctx context.Context, before int64, limit int) ([]incidents.AuditEntry, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, actor, via, command, target, allowed, result FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	defer rows.Close()
	out := []incidents.AuditEntry{}
	for rows.Next() {
		var (
			e  incidents.AuditEntry
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Via, &e.Command, &e.Target, &e.Allowed, &e.Result); err != nil {
			return nil, fmt.Errorf("store: audit: %w", err)
		}
		e.At = fromNanos(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
