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

// CreateUpgradeApply stores a rolling upgrade and sets its id.
func (s *Store) CreateUpgradeApply(ctx context.Context, a *upgrade.Apply) error {
	body, _ := json.Marshal(a)
	res, err := s.w.ExecContext(ctx, `INSERT INTO upgrade_applies (plan_id, state, body) VALUES (?, ?, ?)`, a.PlanID, a.State, string(body))
	if err != nil {
		return fmt.Errorf("store: upgrade: %w", err)
	}
	a.ID, err = res.LastInsertId()
	if err == nil {
		err = s.UpdateUpgradeApply(ctx, a)
	}
	return err
}

// UpdateUpgradeApply stores an upgrade's progress.
func (s *Store) UpdateUpgradeApply(ctx context.Context, a *upgrade.Apply) error {
	body, _ := json.Marshal(a)
	if _, err := s.w.ExecContext(ctx, `UPDATE upgrade_applies SET state = ?, body = ? WHERE id = ?`, a.State, string(body), a.ID); err != nil {
		return fmt.Errorf("store: upgrade %d: %w", a.ID, err)
	}
	return nil
}

// UpgradeApply returns an upgrade.
func (s *Store) UpgradeApply(ctx context.Context, id int64) (*upgrade.Apply, error) {
	var body string
	err := s.r.QueryRowContext(ctx, `SELECT body FROM upgrade_applies WHERE id = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, upgrade.ErrNoApply
	}
	if err != nil {
		return nil, fmt.Errorf("store: upgrade %d: %w", id, err)
	}
	var a upgrade.Apply
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// InterruptUpgradeApplies marks the upgrades still applying as interrupted and
// returns them.
func (s *Store) InterruptUpgradeApplies(ctx context.Context, why string) ([]upgrade.Apply, error) {
	rows, err := s.w.QueryContext(ctx, `UPDATE upgrade_applies SET state = 'interrupted',
		body = json_set(body, '$.state', 'interrupted', '$.error', ?) WHERE state = 'applying' RETURNING body`, why)
	if err != nil {
		return nil, fmt.Errorf("store: interrupt upgrades: %w", err)
	}
	defer rows.Close()
	var out []upgrade.Apply
	for rows.Next() {
		var body string
		var a upgrade.Apply
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
