package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opsbot/opsbot/incidents"
)

// ListIncidents lists incidents without their alerts and timeline.
func (s *Store) ListIncidents(ctx context.Context, f incidents.Filter) (incidents.Page, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if f.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	q := `SELECT ` + incidentCols + ` FROM incidents`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.Limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return incidents.Page{}, fmt.Errorf("store: list incidents: %w", err)
	}
	defer rows.Close()
	p := incidents.Page{Incidents: []incidents.Incident{}}
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return incidents.Page{}, fmt.Errorf("store: list incidents: %w", err)
		}
		p.Incidents = append(p.Incidents, *inc)
	}
	if err := rows.Err(); err != nil {
		return incidents.Page{}, fmt.Errorf("store: list incidents: %w", err)
	}
	if len(p.Incidents) > f.Limit {
		p.Incidents = p.Incidents[:f.Limit]
		p.Next = p.Incidents[f.Limit-1].ID
	}
	return p, nil
}

// Incident returns one incident with its alerts and timeline, or an error
// matching incidents.ErrNotFound.
func (s *Store) Incident(ctx context.Context, id int64) (*incidents.Incident, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: incident %d: %w", id, err)
	}
	defer tx.Rollback()
	inc, err := scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, &incidents.NotFoundError{ID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("store: incident %d: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+alertCols+` FROM alerts WHERE incident_id = ? ORDER BY starts_at, dedup_key`, id)
	if err != nil {
		return nil, fmt.Errorf("store: incident %d alerts: %w", id, err)
	}
	defer rows.Close()
	inc.Alerts = []incidents.Alert{}
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: incident %d alerts: %w", id, err)
		}
		inc.Alerts = append(inc.Alerts, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: incident %d alerts: %w", id, err)
	}
	trows, err := tx.QueryContext(ctx, `SELECT at, kind, actor, origin, detail FROM timeline WHERE incident_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("store: incident %d timeline: %w", id, err)
	}
	defer trows.Close()
	inc.Timeline = []incidents.Entry{}
	for trows.Next() {
		var (
			e  incidents.Entry
			at int64
		)
		if err := trows.Scan(&at, &e.Kind, &e.Actor, &e.Origin, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: incident %d timeline: %w", id, err)
		}
		e.At = fromNanos(at)
		inc.Timeline = append(inc.Timeline, e)
	}
	return inc, trows.Err()
}

// Outcome returns what applying the message with this delivery id did, and
// false if it has not been applied yet.
func (s *Store) Outcome(ctx context.Context, id string) (incidents.Outcome, bool, error) {
	o := incidents.Outcome{ID: id}
	var incID sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT incident_id, outcome, refusal FROM events WHERE id = ?`, id).Scan(&incID, &o.Outcome, &o.Refusal)
	if errors.Is(err, sql.ErrNoRows) {
		return o, false, nil
	}
	o.IncidentID = incID.Int64
	return o, err == nil, err
}

// OpenCounts counts open incidents by state and severity, for metrics.
func (s *Store) OpenCounts(ctx context.Context) ([]incidents.OpenCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, severity, count(*) FROM incidents WHERE state IN ('triggered', 'acknowledged') GROUP BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("store: open counts: %w", err)
	}
	defer rows.Close()
	var out []incidents.OpenCount
	for rows.Next() {
		var c incidents.OpenCount
		if err := rows.Scan(&c.State, &c.Severity, &c.N); err != nil {
			return nil, fmt.Errorf("store: open counts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ListNotices lists recorded notices.
func (s *Store) ListNotices(ctx context.Context, f incidents.NoticeFilter) (incidents.NoticePage, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var (
		where []string
		args  []any
	)
	if f.Source != "" {
		where, args = append(where, "source = ?"), append(args, f.Source)
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	q := `SELECT id, event_id, source, dedup_key, severity, summary, labels, details, links, occurred_at, at FROM notices`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY id DESC LIMIT ?", append(args, f.Limit+1)...)
	if err != nil {
		return incidents.NoticePage{}, fmt.Errorf("store: list notices: %w", err)
	}
	defer rows.Close()
	p := incidents.NoticePage{Notices: []incidents.Notice{}}
	for rows.Next() {
		var (
			n             incidents.Notice
			labels, links string
			details       []byte
			occurred, at  int64
		)
		if err := rows.Scan(&n.ID, &n.EventID, &n.Source, &n.DedupKey, &n.Severity, &n.Summary, &labels, &details, &links, &occurred, &at); err != nil {
			return incidents.NoticePage{}, fmt.Errorf("store: list notices: %w", err)
		}
		if err := json.Unmarshal([]byte(labels), &n.Labels); err != nil {
			return incidents.NoticePage{}, fmt.Errorf("store: notice %d labels: %w", n.ID, err)
		}
		if links != "" {
			if err := json.Unmarshal([]byte(links), &n.Links); err != nil {
				return incidents.NoticePage{}, fmt.Errorf("store: notice %d links: %w", n.ID, err)
			}
		}
		if len(details) > 0 {
			n.Details = details
		}
		n.OccurredAt, n.At = fromNanos(occurred), fromNanos(at)
		p.Notices = append(p.Notices, n)
	}
	if err := rows.Err(); err != nil {
		return incidents.NoticePage{}, fmt.Errorf("store: list notices: %w", err)
	}
	if len(p.Notices) > f.Limit {
		p.Notices = p.Notices[:f.Limit]
		p.Next = p.Notices[f.Limit-1].ID
	}
	return p, nil
}

// RecentActivity returns the last timeline entries across incidents,
// newest first.
func (s *Store) RecentActivity(ctx context.Context, limit int) ([]incidents.Activity, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT t.incident_id, i.title, t.at, t.kind, t.actor, t.origin, t.detail
		FROM timeline t JOIN incidents i ON i.id = t.incident_id ORDER BY t.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: recent activity: %w", err)
	}
	defer rows.Close()
	out := []incidents.Activity{}
	for rows.Next() {
		var (
			a  incidents.Activity
			at int64
		)
		if err := rows.Scan(&a.IncidentID, &a.Title, &at, &a.Kind, &a.Actor, &a.Origin, &a.Detail); err != nil {
			return nil, fmt.Errorf("store: recent activity: %w", err)
		}
		a.At = fromNanos(at)
		out = append(out, a)
	}
	return out, rows.Err()
}
