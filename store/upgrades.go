package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opsbot/opsbot/upgrade"
)

// CreateUpgradePlan stores a plan and sets its id.
func (s *Store) CreateUpgradePlan(ctx context.Context, p *upgrade.Plan) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `INSERT INTO upgrade_plans (created_at, head, lock_hash, requested_by, body) VALUES (?, ?, ?, ?, ?)`,
		nanos(p.CreatedAt), p.Head, p.LockHash, p.RequestedBy, string(body))
	if err != nil {
		return fmt.Errorf("store: upgrade plan: %w", err)
	}
	p.ID, err = res.LastInsertId()
	return err
}

// UpgradePlan returns a plan.
func (s *Store) UpgradePlan(ctx context.Context, id int64) (*upgrade.Plan, error) {
	var body string
	err := s.r.QueryRowContext(ctx, `SELECT body FROM upgrade_plans WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, upgrade.ErrNoPlan
	}
	if err != nil {
		return nil, fmt.Errorf("store: upgrade plan %d: %w", id, err)
	}
	var p upgrade.Plan
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		return nil, fmt.Errorf("store: upgrade plan %d: %w", id, err)
	}
	p.ID = id
	return &p, nil
}

// UpdateUpgradePlan stores what came of a plan.
func (s *Store) UpdateUpgradePlan(ctx context.Context, p *upgrade.Plan) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, `UPDATE upgrade_plans SET head = ?, lock_hash = ?, body = ? WHERE id = ?`, p.Head, p.LockHash, string(body), p.ID)
	if err != nil {
		return fmt.Errorf("store: upgrade plan %d: %w", p.ID, err)
	}
	return nil
}

// FailUnfinishedUpgradePlans marks the plans still planning as failed.
func (s *Store) FailUnfinishedUpgradePlans(ctx context.Context, why string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE upgrade_plans SET body = json_set(body, '$.state', 'failed', '$.error', ?)
		WHERE json_extract(body, '$.state') = 'planning'`, why)
	if err != nil {
		return fmt.Errorf("store: unfinished upgrade plans: %w", err)
	}
	return nil
}
