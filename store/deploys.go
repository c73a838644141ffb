package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opsbot/opsbot/deploy"
)

// CreatePlan stores a plan and sets its id.
func (s *Store) CreatePlan(ctx context.Context, p *deploy.Plan) error {
	commits, _ := json.Marshal(p.Commits)
	targets, _ := json.Marshal(p.Targets)
	res, err := s.w.ExecContext(ctx, `INSERT INTO deploy_plans (kind, target, requested, from_rev, to_rev, commits, rewritten,
		second_approval, requested_by, created_at, expires_at, targets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Kind, p.Target, p.Requested, p.From, p.To, string(commits), p.Rewritten, p.SecondApproval, p.RequestedBy,
		nanos(p.CreatedAt), nanos(p.ExpiresAt), string(targets))
	if err != nil {
		return fmt.Errorf("store: create plan: %w", err)
	}
	p.ID, err = res.LastInsertId()
	return err
}

// Plan returns a plan.
func (s *Store) Plan(ctx context.Context, id int64) (*deploy.Plan, error) {
	var (
		p                deploy.Plan
		commits, targets string
		created, expires int64
		run              sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT id, kind, target, requested, from_rev, to_rev, commits, rewritten, second_approval,
		requested_by, created_at, expires_at, approved_by, run_id, targets FROM deploy_plans WHERE id = ?`, id).Scan(
		&p.ID, &p.Kind, &p.Target, &p.Requested, &p.From, &p.To, &commits, &p.Rewritten, &p.SecondApproval,
		&p.RequestedBy, &created, &expires, &p.ApprovedBy, &run, &targets)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, deploy.ErrNoPlan
	}
	if err != nil {
		return nil, fmt.Errorf("store: plan %d: %w", id, err)
	}
	json.Unmarshal([]byte(commits), &p.Commits)
	json.Unmarshal([]byte(targets), &p.Targets)
	p.CreatedAt, p.ExpiresAt, p.RunID = fromNanos(created), fromNanos(expires), run.Int64
	return &p, nil
}

const runCols = `id, plan_id, kind, target, driver, mode, from_rev, to_rev, actor, origin, approved_by, state, phase,
	started_at, ended_at, exit_status, outcome, output, parent_id, chat_ref, group_name`

func scanRun(row rowScanner) (*deploy.Run, error) {
	var (
		r                      deploy.Run
		plan, ended, st, paren sql.NullInt64
		started                int64
	)
	err := row.Scan(&r.ID, &plan, &r.Kind, &r.Target, &r.Driver, &r.Mode, &r.From, &r.To, &r.Actor, &r.Origin, &r.ApprovedBy,
		&r.State, &r.Phase, &started, &ended, &st, &r.Outcome, &r.Output, &paren, &r.ChatRef, &r.Group)
	if err != nil {
		return nil, err
	}
	r.PlanID, r.ParentID, r.StartedAt, r.EndedAt = plan.Int64, paren.Int64, fromNanos(started), fromNull(ended)
	if st.Valid {
		code := int(st.Int64)
		r.ExitStatus = &code
	}
	return &r, nil
}

func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// StartRun stores a running run, taking its target's lock (and, with
// global, the lock of every target) and approving its plan, in one
// transaction.
func (s *Store) StartRun(ctx context.Context, r *deploy.Run, global bool) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: start run: %w", err)
	}
	defer tx.Rollback()
	q := `SELECT ` + runCols + ` FROM deploy_runs WHERE state = 'running' AND target = ? LIMIT 1`
	args := []any{r.Target}
	if global {
		q, args = `SELECT `+runCols+` FROM deploy_runs WHERE state = 'running' LIMIT 1`, nil
	}
	holder, err := scanRun(tx.QueryRowContext(ctx, q, args...))
	switch {
	case err == nil:
		return &deploy.BusyError{Holder: *holder}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: start run: %w", err)
	}
	if r.PlanID != 0 {
		res, err := tx.ExecContext(ctx, `UPDATE deploy_plans SET approved_by = ? WHERE id = ? AND run_id IS NULL`, r.ApprovedBy, r.PlanID)
		if err != nil {
			return fmt.Errorf("store: approve plan: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("plan %d was already approved", r.PlanID)
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO deploy_runs (plan_id, kind, target, driver, mode, from_rev, to_rev, actor, origin,
		approved_by, state, phase, started_at, parent_id, chat_ref, group_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nullID(r.PlanID), r.Kind, r.Target, r.Driver, r.Mode, r.From, r.To, r.Actor, r.Origin, r.ApprovedBy, r.State, r.Phase,
		nanos(r.StartedAt), nullID(r.ParentID), r.ChatRef, r.Group)
	if err != nil {
		return fmt.Errorf("store: start run: %w", err)
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	if r.PlanID != 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE deploy_plans SET run_id = ? WHERE id = ?`, r.ID, r.PlanID); err != nil {
			return fmt.Errorf("store: approve plan: %w", err)
		}
	}
	return tx.Commit()
}

// UpdateRun stores a run's state, phase, end, outcome and output.
func (s *Store) UpdateRun(ctx context.Context, r *deploy.Run) error {
	var st sql.NullInt64
	if r.ExitStatus != nil {
		st = sql.NullInt64{Int64: int64(*r.ExitStatus), Valid: true}
	}
	_, err := s.w.ExecContext(ctx, `UPDATE deploy_runs SET state = ?, phase = ?, ended_at = ?, exit_status = ?, outcome = ?,
		output = ?, chat_ref = ? WHERE id = ?`, r.State, r.Phase, nullNanos(r.EndedAt), st, r.Outcome, r.Output, r.ChatRef, r.ID)
	if err != nil {
		return fmt.Errorf("store: update run %d: %w", r.ID, err)
	}
	return nil
}

// SetRunChatRef records the chat message that follows a run.
func (s *Store) SetRunChatRef(ctx context.Context, id int64, ref string) error {
	_, err := s.w.ExecContext(ctx, `UPDATE deploy_runs SET chat_ref = ? WHERE id = ?`, ref, id)
	return err
}

// Run returns a run.
func (s *Store) Run(ctx context.Context, id int64) (*deploy.Run, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, `SELECT `+runCols+` FROM deploy_runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, deploy.ErrNoRun
	}
	if err != nil {
		return nil, fmt.Errorf("store: run %d: %w", id, err)
	}
	return r, nil
}

// Runs lists runs, of one target or all, newest first, without output.
func (s *Store) Runs(ctx context.Context, target string, limit int) ([]deploy.Run, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	q := `SELECT ` + runCols + ` FROM deploy_runs`
	args := []any{}
	if target != "" {
		q, args = q+` WHERE target = ?`, append(args, target)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("store: runs: %w", err)
	}
	defer rows.Close()
	out := []deploy.Run{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: runs: %w", err)
		}
		r.Output = ""
		out = append(out, *r)
	}
	return out, rows.Err()
}

// Deployed is the revision of the target's last successful run before
// run before (0: of all), "" if none.
func (s *Store) Deployed(ctx context.Context, target string, before int64) (string, error) {
	if before <= 0 {
		before = 1 << 62
	}
	var rev string
	err := s.r.QueryRowContext(ctx, `SELECT to_rev FROM deploy_runs WHERE target = ? AND state = 'succeeded' AND id < ?
		ORDER BY id DESC LIMIT 1`, target, before).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return rev, err
}

// InterruptRuns marks the runs still running as interrupted, releasing
// their locks, and returns them.
func (s *Store) InterruptRuns(ctx context.Context, at time.Time, why string) ([]deploy.Run, error) {
	rows, err := s.w.QueryContext(ctx, `UPDATE deploy_runs SET state = 'interrupted', phase = 'done', ended_at = ?, outcome = ?
		WHERE state = 'running' RETURNING `+runCols, nanos(at), why)
	if err != nil {
		return nil, fmt.Errorf("store: interrupt runs: %w", err)
	}
	defer rows.Close()
	var out []deploy.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: interrupt runs: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}
