package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opsbot/opsbot/incidents"
)

const incidentCols = `id, group_key, source, state, severity, title, created_at, updated_at,
	acknowledged_by, acknowledged_at, resolved_at, snoozed_until, firing_alerts`

type rowScanner interface{ Scan(dest ...any) error }

func scanIncident(row rowScanner) (*incidents.Incident, error) {
	var (
		inc                   incidents.Incident
		created, updated      int64
		acked, resolved, snzd sql.NullInt64
	)
	err := row.Scan(&inc.ID, &inc.GroupKey, &inc.Source, &inc.State, &inc.Severity, &inc.Title,
		&created, &updated, &inc.AcknowledgedBy, &acked, &resolved, &snzd, &inc.FiringAlerts)
	if err != nil {
		return nil, err
	}
	inc.CreatedAt, inc.UpdatedAt = fromNanos(created), fromNanos(updated)
	inc.AcknowledgedAt, inc.ResolvedAt, inc.SnoozedUntil = fromNull(acked), fromNull(resolved), fromNull(snzd)
	return &inc, nil
}

const alertCols = `dedup_key, status, severity, summary, labels, details, links, starts_at, ends_at, updated_at`

func scanAlert(row rowScanner) (*incidents.Alert, error) {
	var (
		a               incidents.Alert
		labels, links   string
		details         []byte
		starts, updated int64
		ends            sql.NullInt64
	)
	if err := row.Scan(&a.DedupKey, &a.Status, &a.Severity, &a.Summary, &labels, &details, &links, &starts, &ends, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return nil, fmt.Errorf("alert %s labels: %w", a.DedupKey, err)
	}
	if len(details) > 0 {
		a.Details = details
	}
	if links != "" {
		if err := json.Unmarshal([]byte(links), &a.Links); err != nil {
			return nil, fmt.Errorf("alert %s links: %w", a.DedupKey, err)
		}
	}
	a.StartsAt, a.EndsAt, a.UpdatedAt = fromNanos(starts), fromNull(ends), fromNanos(updated)
	return &a, nil
}

// Apply applies a batch of stream messages in one transaction, in order.
// A message already applied (by id) changes nothing and reports its first
// outcome. An error means nothing of the batch was written.
func (s *Store) Apply(ctx context.Context, batch []incidents.Envelope) ([]incidents.Outcome, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	out := make([]incidents.Outcome, 0, len(batch))
	for i := range batch {
		o, err := s.applyOne(ctx, tx, &batch[i])
		if err != nil {
			return nil, fmt.Errorf("store: apply %s: %w", batch[i].ID(), err)
		}
		out = append(out, o)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	return out, nil
}

func (s *Store) applyOne(ctx context.Context, tx *sql.Tx, env *incidents.Envelope) (incidents.Outcome, error) {
	id := env.ID()
	o := incidents.Outcome{ID: id}
	res, err := tx.ExecContext(ctx, `INSERT INTO events (id, seq, at, applied_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		id, env.Seq, nanos(env.At), nanos(s.now()))
	if err != nil {
		return o, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var incID sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT incident_id, outcome, refusal FROM events WHERE id = ?`, id).Scan(&incID, &o.Outcome, &o.Refusal)
		o.IncidentID, o.Duplicate = incID.Int64, true
		return o, err
	}

	var ch incidents.Change
	if env.Command != nil {
		c := env.Command
		o.IncidentID = c.IncidentID
		inc, err := scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE id = ?`, c.IncidentID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			o.IncidentID = 0
			err = &incidents.NotFoundError{ID: c.IncidentID}
		case err != nil:
			return o, err
		default:
			ch, err = s.rules.ApplyCommand(inc, c, env.At)
		}
		if err != nil {
			o.Outcome, o.Refusal = "refused", err.Error()
		}
	} else {
		v, err := s.view(ctx, tx, env.Event)
		if err != nil {
			return o, err
		}
		ch = s.rules.ApplyEvent(v, env.Event, env.At, env.Origin)
	}
	if o.Refusal == "" {
		if err := s.write(ctx, tx, &ch, env); err != nil {
			return o, err
		}
		o.Outcome = ch.Outcome
		if ch.Incident != nil {
			o.IncidentID = ch.Incident.ID
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE events SET incident_id = ?, outcome = ?, refusal = ? WHERE id = ?`,
		sql.NullInt64{Int64: o.IncidentID, Valid: o.IncidentID != 0}, o.Outcome, o.Refusal, id)
	return o, err
}

// view loads what the rules need to know of an event's group: its newest
// incident, the event's alert there, and the other firing alerts in brief.
func (s *Store) view(ctx context.Context, tx *sql.Tx, ev *incidents.Event) (incidents.View, error) {
	var v incidents.View
	inc, err := scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE group_key = ? ORDER BY id DESC LIMIT 1`, ev.GroupKey))
	if errors.Is(err, sql.ErrNoRows) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	v.Incident = inc
	a, err := scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertCols+` FROM alerts WHERE incident_id = ? AND dedup_key = ?`, inc.ID, ev.DedupKey))
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return v, err
	default:
		v.Alert = a
	}
	var rank int
	err = tx.QueryRowContext(ctx, `SELECT count(*), coalesce(max(CASE severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END), 0)
		FROM alerts WHERE incident_id = ? AND status = 'firing' AND dedup_key <> ?`, inc.ID, ev.DedupKey).Scan(&v.OtherFiring, &rank)
	v.OtherMax = incidents.SeverityFromRank(rank)
	return v, err
}

func (s *Store) write(ctx context.Context, tx *sql.Tx, ch *incidents.Change, env *incidents.Envelope) error {
	inc := ch.Incident
	if inc == nil {
		return nil
	}
	if inc.ID == 0 {
		res, err := tx.ExecContext(ctx, `INSERT INTO incidents (group_key, source, state, severity, title, created_at, updated_at,
			acknowledged_by, acknowledged_at, resolved_at, snoozed_until, firing_alerts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			inc.GroupKey, inc.Source, inc.State, inc.Severity, inc.Title, nanos(inc.CreatedAt), nanos(inc.UpdatedAt),
			inc.AcknowledgedBy, nullNanos(inc.AcknowledgedAt), nullNanos(inc.ResolvedAt), nullNanos(inc.SnoozedUntil), inc.FiringAlerts)
		if err != nil {
			return err
		}
		if inc.ID, err = res.LastInsertId(); err != nil {
			return err
		}
	} else {
		_, err := tx.ExecContext(ctx, `UPDATE incidents SET state = ?, severity = ?, title = ?, updated_at = ?, acknowledged_by = ?,
			acknowledged_at = ?, resolved_at = ?, snoozed_until = ?, firing_alerts = ? WHERE id = ?`,
			inc.State, inc.Severity, inc.Title, nanos(inc.UpdatedAt), inc.AcknowledgedBy,
			nullNanos(inc.AcknowledgedAt), nullNanos(inc.ResolvedAt), nullNanos(inc.SnoozedUntil), inc.FiringAlerts, inc.ID)
		if err != nil {
			return err
		}
	}
	if a := ch.Alert; a != nil {
		labels, err := json.Marshal(a.Labels)
		if err != nil {
			return err
		}
		if a.Labels == nil {
			labels = []byte("{}")
		}
		var links []byte
		if len(a.Links) > 0 {
			if links, err = json.Marshal(a.Links); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO alerts (incident_id, `+alertCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (incident_id, dedup_key) DO UPDATE SET status = excluded.status, severity = excluded.severity,
			summary = excluded.summary, labels = excluded.labels, details = excluded.details, links = excluded.links, starts_at = excluded.starts_at, ends_at = excluded.ends_at,
			updated_at = excluded.updated_at`,
			inc.ID, a.DedupKey, a.Status, a.Severity, a.Summary, string(labels), string(a.Details), string(links), nanos(a.StartsAt), nullNanos(a.EndsAt), nanos(a.UpdatedAt))
		if err != nil {
			return err
		}
	}
	if ch.ResolveAlerts {
		if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = 'resolved', ends_at = ?, updated_at = ? WHERE incident_id = ? AND status = 'firing'`,
			nanos(env.At), nanos(env.At), inc.ID); err != nil {
			return err
		}
	}
	for _, e := range ch.Timeline {
		if _, err := tx.ExecContext(ctx, `INSERT INTO timeline (incident_id, at, kind, actor, origin, detail) VALUES (?, ?, ?, ?, ?, ?)`,
			inc.ID, nanos(e.At), e.Kind, e.Actor, e.Origin, e.Detail); err != nil {
			return err
		}
	}
	return nil
}
