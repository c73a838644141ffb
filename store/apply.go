package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opsbot/opsbot/incidents"
)

const incidentCols = `id, group_key, source, state, severity, title, created_at, updated_at,
	acknowledged_by, acknowledged_at, resolved_at, snoozed_until, firing_alerts, firing_info, firing_warning, firing_critical, labels, escalation_step, held, flapping, flap_times, flap_notified_at, storm_id, silence_id, silenced_until, resolved_by`

type rowScanner interface{ Scan(dest ...any) error }

func scanIncident(row rowScanner) (*incidents.Incident, error) {
	var (
		inc                   incidents.Incident
		created, updated      int64
		acked, resolved, snzd sql.NullInt64
		labels, flapTimes     string
		flapNotified          sql.NullInt64
		silencedUntil         sql.NullInt64
	)
	err := row.Scan(&inc.ID, &inc.GroupKey, &inc.Source, &inc.State, &inc.Severity, &inc.Title,
		&created, &updated, &inc.AcknowledgedBy, &acked, &resolved, &snzd, &inc.FiringAlerts,
		&inc.Firing[1], &inc.Firing[2], &inc.Firing[3], &labels, &inc.EscalationStep, &inc.Held,
		&inc.Flapping, &flapTimes, &flapNotified, &inc.StormID,
		&inc.SilenceID, &silencedUntil, &inc.ResolvedBy)
	if err != nil {
		return nil, err
	}
	inc.FlapNotifiedAt, inc.SilencedUntil = fromNull(flapNotified), fromNull(silencedUntil)
	if flapTimes != "[]" && flapTimes != "" {
		var ns []int64
		if err := json.Unmarshal([]byte(flapTimes), &ns); err != nil {
			return nil, fmt.Errorf("incident %d flap times: %w", inc.ID, err)
		}
		for _, n := range ns {
			inc.FlapTimes = append(inc.FlapTimes, fromNanos(n))
		}
	}
	if labels != "{}" && labels != "" {
		if err := json.Unmarshal([]byte(labels), &inc.Labels); err != nil {
			return nil, fmt.Errorf("incident %d labels: %w", inc.ID, err)
		}
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

// statements are the reducer's SQL, prepared once on the writer.
type statements struct {
	incidentByID, incidentByGroup, alertByKey *sql.Stmt
	incidentInsert, incidentUpdate            *sql.Stmt
	noticeInsert, outboxQueue, outboxTargets  *sql.Stmt
	timerSet, timerClear, timerDue            *sql.Stmt
	alertsResolveAll                          *sql.Stmt
	// the multi-row inserts, one statement per size in rowsPerStmt
	alertUpsert, timelineInsert, eventInsert [len(rowsPerStmt)]*sql.Stmt
	// look-ups of many keys, one statement per size in keysPerStmt
	eventsSeen, alertsByKeys [len(keysPerStmt)]*sql.Stmt
}

// keysPerStmt are the sizes of the IN (...) look-ups, smallest first; a
// shorter list is padded by repeating its last key.
var keysPerStmt = [...]int{8, 32, 128, 512}

// inArgs pads keys to the size of the smallest look-up that takes them all
// (at most the largest) and says which that is.
func inArgs(prefix []any, keys []string) (int, []any) {
	i := 0
	for i < len(keysPerStmt)-1 && keysPerStmt[i] < len(keys) {
		i++
	}
	args := prefix
	for j := range keysPerStmt[i] {
		args = append(args, keys[min(j, len(keys)-1)])
	}
	return i, args
}

// rowsPerStmt are the sizes of the multi-row inserts, largest first.
var rowsPerStmt = [...]int{64, 16, 1}

const (
	alertUpsertSQL = `INSERT INTO alerts (incident_id, ` + alertCols + `) VALUES %s
		ON CONFLICT (incident_id, dedup_key) DO UPDATE SET status = excluded.status, severity = excluded.severity,
		summary = excluded.summary, labels = excluded.labels, details = excluded.details, links = excluded.links,
		starts_at = excluded.starts_at, ends_at = excluded.ends_at, updated_at = excluded.updated_at`
	timelineInsertSQL = `INSERT INTO timeline (incident_id, at, kind, actor, origin, detail) VALUES %s`
	eventInsertSQL    = `INSERT INTO events (id, seq, at, applied_at, incident_id, outcome, refusal) VALUES %s`
)

func values(cols, rows int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return row + strings.Repeat(", "+row, rows-1)
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.st.incidentByID, `SELECT ` + incidentCols + ` FROM incidents WHERE id = ?`},
		{&s.st.incidentByGroup, `SELECT ` + incidentCols + ` FROM incidents WHERE group_key = ? ORDER BY id DESC LIMIT 1`},
		{&s.st.alertByKey, `SELECT ` + alertCols + ` FROM alerts WHERE incident_id = ? AND dedup_key = ?`},
		{&s.st.incidentInsert, `INSERT INTO incidents (group_key, source, state, severity, title, created_at, updated_at,
			acknowledged_by, acknowledged_at, resolved_at, snoozed_until, firing_alerts, firing_info, firing_warning, firing_critical, labels, escalation_step, held, flapping, flap_times,
			flap_notified_at, storm_id, silence_id, silenced_until) VALUES ` + values(24, 1)},
		{&s.st.timerSet, `INSERT INTO timers (incident_id, kind, due_at) VALUES (?, ?, ?)
			ON CONFLICT (incident_id, kind) DO UPDATE SET due_at = excluded.due_at`},
		{&s.st.timerClear, `DELETE FROM timers WHERE incident_id = ? AND kind = ?`},
		{&s.st.timerDue, `SELECT due_at FROM timers WHERE incident_id = ? AND kind = ?`},
		{&s.st.outboxTargets, `SELECT DISTINCT target FROM outbox WHERE incident_id = ?`},
		{&s.st.incidentUpdate, `UPDATE incidents SET state = ?, severity = ?, title = ?, updated_at = ?, acknowledged_by = ?,
			acknowledged_at = ?, resolved_at = ?, snoozed_until = ?, firing_alerts = ?, firing_info = ?, firing_warning = ?,
			firing_critical = ?, escalation_step = ?, held = ?, flapping = ?, flap_times = ?, flap_notified_at = ?,
			silence_id = ?, silenced_until = ?, resolved_by = ? WHERE id = ?`},
		{&s.st.noticeInsert, `INSERT INTO notices (event_id, source, dedup_key, severity, summary, labels, details, links,
			occurred_at, at) VALUES ` + values(10, 1)},
		{&s.st.outboxQueue, `INSERT INTO outbox (target, incident_id, created_at, next_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (target, incident_id) WHERE state = 'pending' DO UPDATE SET version = version + 1`},
		{&s.st.alertsResolveAll, `UPDATE alerts SET status = 'resolved', ends_at = ?, updated_at = ? WHERE incident_id = ? AND status = 'firing'`},
	} {
		if err := s.prepareOne(ctx, p.dst, p.sql); err != nil {
			return err
		}
	}
	for i, n := range keysPerStmt {
		in := "(?" + strings.Repeat(", ?", n-1) + ")"
		if err := s.prepareOne(ctx, &s.st.eventsSeen[i], `SELECT id, incident_id, outcome, refusal FROM events WHERE id IN `+in); err != nil {
			return err
		}
		if err := s.prepareOne(ctx, &s.st.alertsByKeys[i], `SELECT `+alertCols+` FROM alerts WHERE incident_id = ? AND dedup_key IN `+in); err != nil {
			return err
		}
	}
	for i, n := range rowsPerStmt {
		for _, p := range []struct {
			dst  **sql.Stmt
			sql  string
			cols int
		}{
			{&s.st.alertUpsert[i], alertUpsertSQL, 11},
			{&s.st.timelineInsert[i], timelineInsertSQL, 6},
			{&s.st.eventInsert[i], eventInsertSQL, 7},
		} {
			if err := s.prepareOne(ctx, p.dst, fmt.Sprintf(p.sql, values(p.cols, n))); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) prepareOne(ctx context.Context, dst **sql.Stmt, query string) error {
	stmt, err := s.w.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("store: prepare %q: %w", query, err)
	}
	*dst = stmt
	s.stmts = append(s.stmts, stmt)
	return nil
}

type alertKey struct {
	incident int64
	dedupKey string
}

// batch is one transaction of the reducer. Incidents and alerts it has
// read or changed are kept in memory; changed incidents are written once
// at the end, and alert, timeline and event rows in multi-row inserts.
type batch struct {
	ctx   context.Context
	tx    *sql.Tx
	s     *Store
	src   *statements
	stmts map[*sql.Stmt]*sql.Stmt // prepared statement -> bound to tx

	seen      map[string]incidents.Outcome
	byID      map[int64]*incidents.Incident
	newest    map[string]int64 // group key -> newest incident id, 0: none
	created   map[int64]bool   // incidents inserted in this batch: no alerts in the table yet
	dirty     []int64
	isDirty   map[int64]bool
	notify    []int64 // incidents whose change people are told of
	isNotify  map[int64]bool
	onlyShown map[int64]bool
	windows   []incidents.Window
	storm     *storm                        // the storm in progress, once looked up
	alerts    map[alertKey]*incidents.Alert // nil: known to be absent
	alertRows []alertKey
	alertDirt map[alertKey]bool
	timeline  []any // flattened rows
	events    []any
}

func (b *batch) stmt(s *sql.Stmt) *sql.Stmt {
	if t, ok := b.stmts[s]; ok {
		return t
	}
	t := b.tx.StmtContext(b.ctx, s)
	b.stmts[s] = t
	return t
}

func (b *batch) row(s *sql.Stmt, args ...any) *sql.Row {
	return b.stmt(s).QueryRowContext(b.ctx, args...)
}

func (b *batch) exec(s *sql.Stmt, args ...any) (sql.Result, error) {
	return b.stmt(s).ExecContext(b.ctx, args...)
}

// Apply applies a batch of stream messages in one transaction, in order.
// A message already applied (by id) changes nothing and reports its first
// outcome. An error means nothing of the batch was written.
func (s *Store) Apply(ctx context.Context, envs []incidents.Envelope) ([]incidents.Outcome, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	b := &batch{
		ctx: ctx, tx: tx, s: s, src: &s.st, stmts: map[*sql.Stmt]*sql.Stmt{},
		byID: map[int64]*incidents.Incident{}, newest: map[string]int64{}, created: map[int64]bool{},
		isDirty: map[int64]bool{}, isNotify: map[int64]bool{}, onlyShown: map[int64]bool{}, alerts: map[alertKey]*incidents.Alert{}, alertDirt: map[alertKey]bool{},
	}
	if b.seen, err = b.applied(envs); err != nil {
		return nil, fmt.Errorf("store: applied ids: %w", err)
	}
	if err := b.prefetch(envs); err != nil {
		return nil, fmt.Errorf("store: read groups: %w", err)
	}
	if b.windows, err = s.windows(ctx, tx, `SELECT `+windowCols+` FROM maintenance WHERE ends_at > ?`, nanos(envs[0].At.Add(-time.Hour))); err != nil {
		return nil, err
	}
	out := make([]incidents.Outcome, 0, len(envs))
	for i := range envs {
		o, err := s.applyOne(b, &envs[i])
		if err != nil {
			return nil, fmt.Errorf("store: apply %s: %w", envs[i].ID(), err)
		}
		out = append(out, o)
	}
	if err := s.flush(b); err != nil {
		return nil, fmt.Errorf("store: write batch: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	return out, nil
}

// applied returns the outcomes of the envelopes that were applied before.
func (b *batch) applied(envs []incidents.Envelope) (map[string]incidents.Outcome, error) {
	out := map[string]incidents.Outcome{}
	max := keysPerStmt[len(keysPerStmt)-1]
	for start := 0; start < len(envs); start += max {
		chunk := envs[start:min(start+max, len(envs))]
		ids := make([]string, len(chunk))
		for i := range chunk {
			ids[i] = chunk[i].ID()
		}
		i, args := inArgs(nil, ids)
		rows, err := b.stmt(b.src.eventsSeen[i]).QueryContext(b.ctx, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				o     incidents.Outcome
				incID sql.NullInt64
			)
			if err := rows.Scan(&o.ID, &incID, &o.Outcome, &o.Refusal); err != nil {
				rows.Close()
				return nil, err
			}
			o.IncidentID, o.Duplicate = incID.Int64, true
			out[o.ID] = o
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// prefetch reads, for every group the batch's events name, its newest
// incident and those of its alerts the events name: a query or two per
// group instead of one per event.
func (b *batch) prefetch(envs []incidents.Envelope) error {
	keys := map[string][]string{}
	var groups []string
	for i := range envs {
		ev := envs[i].Event
		if ev == nil || ev.Action == incidents.Record {
			continue
		}
		if _, ok := b.seen[envs[i].ID()]; ok {
			continue
		}
		if _, ok := keys[ev.GroupKey]; !ok {
			groups = append(groups, ev.GroupKey)
		}
		keys[ev.GroupKey] = append(keys[ev.GroupKey], ev.DedupKey)
	}
	for _, g := range groups {
		inc, err := scanIncident(b.row(b.src.incidentByGroup, g))
		if errors.Is(err, sql.ErrNoRows) {
			b.newest[g] = 0
			continue
		}
		if err != nil {
			return err
		}
		b.byID[inc.ID], b.newest[g] = inc, inc.ID
		want := keys[g]
		max := keysPerStmt[len(keysPerStmt)-1]
		for start := 0; start < len(want); start += max {
			chunk := want[start:min(start+max, len(want))]
			for _, k := range chunk {
				b.alerts[alertKey{inc.ID, k}] = nil // absent unless found
			}
			i, args := inArgs([]any{inc.ID}, chunk)
			rows, err := b.stmt(b.src.alertsByKeys[i]).QueryContext(b.ctx, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				a, err := scanAlert(rows)
				if err != nil {
					rows.Close()
					return err
				}
				b.alerts[alertKey{inc.ID, a.DedupKey}] = a
			}
			if err := rows.Close(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) applyOne(b *batch, env *incidents.Envelope) (incidents.Outcome, error) {
	id := env.ID()
	if o, ok := b.seen[id]; ok {
		o.Duplicate = true
		return o, nil
	}
	o := incidents.Outcome{ID: id}
	var ch incidents.Change
	if env.Command != nil {
		c := env.Command
		o.IncidentID = c.IncidentID
		inc, err := b.incident(c.IncidentID)
		switch {
		case err != nil:
			return o, err
		case inc == nil:
			o.IncidentID = 0
			err = &incidents.NotFoundError{ID: c.IncidentID}
		case c.Verb == incidents.Fire:
			// Only the timer as it stands: one moved or cleared since is stale.
			var due int64
			err = b.row(b.src.timerDue, c.IncidentID, c.Timer).Scan(&due)
			switch {
			case errors.Is(err, sql.ErrNoRows) || (err == nil && due != nanos(c.DueAt)):
				ch, err = incidents.Change{Outcome: "ignored: the timer was moved or cleared"}, nil
			case err != nil:
				return o, err
			default:
				if _, err := b.exec(b.src.timerClear, c.IncidentID, c.Timer); err != nil {
					return o, err
				}
				ch, err = s.rules.ApplyCommand(inc, c, env.At)
			}
		default:
			ch, err = s.rules.ApplyCommand(inc, c, env.At)
		}
		if err != nil {
			o.Outcome, o.Refusal = "refused", err.Error()
		}
	} else {
		var v incidents.View
		if env.Event.Action != incidents.Record {
			var err error
			if v, err = b.view(env.Event); err != nil {
				return o, err
			}
		}
		ch = s.rules.ApplyEvent(v, env.Event, env.At, env.Origin)
	}
	if o.Refusal == "" {
		if err := b.write(&ch, env); err != nil {
			return o, err
		}
		o.Outcome = ch.Outcome
		if ch.Incident != nil {
			o.IncidentID = ch.Incident.ID
		}
	}
	b.seen[id] = o
	b.events = append(b.events, id, env.Seq, nanos(env.At), nanos(s.now()),
		sql.NullInt64{Int64: o.IncidentID, Valid: o.IncidentID != 0}, o.Outcome, o.Refusal)
	return o, nil
}

// incident returns incident id, nil if there is none.
func (b *batch) incident(id int64) (*incidents.Incident, error) {
	if inc, ok := b.byID[id]; ok {
		return inc, nil
	}
	inc, err := scanIncident(b.row(b.src.incidentByID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b.byID[id] = inc
	return inc, nil
}

// view is what the rules need to know of an event's group: its newest
// incident and the event's alert there.
func (b *batch) view(ev *incidents.Event) (incidents.View, error) {
	var v incidents.View
	id, ok := b.newest[ev.GroupKey]
	if !ok {
		inc, err := scanIncident(b.row(b.src.incidentByGroup, ev.GroupKey))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return v, err
		default:
			if cached, ok := b.byID[inc.ID]; ok {
				inc = cached // a command of this batch changed it
			}
			b.byID[inc.ID] = inc
			id = inc.ID
		}
		b.newest[ev.GroupKey] = id
	}
	if id == 0 {
		return v, nil
	}
	v.Incident = b.byID[id]
	k := alertKey{id, ev.DedupKey}
	a, ok := b.alerts[k]
	if !ok && !b.created[id] {
		var err error
		a, err = scanAlert(b.row(b.src.alertByKey, id, ev.DedupKey))
		if errors.Is(err, sql.ErrNoRows) {
			a, err = nil, nil
		}
		if err != nil {
			return v, err
		}
		b.alerts[k] = a
	}
	v.Alert = a
	return v, nil
}

func (b *batch) write(ch *incidents.Change, env *incidents.Envelope) error {
	if n := ch.Notice; n != nil {
		labels, links, err := marshalLabelsLinks(n.Labels, n.Links)
		if err != nil {
			return err
		}
		_, err = b.exec(b.src.noticeInsert, n.EventID, n.Source, n.DedupKey, n.Severity, n.Summary, labels,
			string(n.Details), links, nanos(n.OccurredAt), nanos(n.At))
		return err
	}
	inc := ch.Incident
	if inc == nil {
		return nil
	}
	if !ch.Quiet {
		for i := range b.windows {
			if w := &b.windows[i]; w.Active(env.At) && w.Matches(inc) {
				ch.Quiet = true
				if !inc.Held {
					inc.Held = true
					ch.Timeline = append(ch.Timeline, incidents.Entry{At: env.At, Kind: incidents.KindHeld, Actor: "opsbot",
						Origin: "maintenance", Detail: fmt.Sprintf("notifications held by maintenance window #%d until %s", w.ID, w.EndsAt.UTC().Format(time.RFC3339))})
				}
				break
			}
		}
	}
	joins, err := b.stormCheck(ch, inc, env)
	if err != nil {
		return err
	}
	if inc.StormID != 0 && inc.Source != StormSource {
		ch.OnlyShown = true // the storm's digest was shown instead
	}
	if ch.Outcome == "storm over" {
		if _, err := b.tx.ExecContext(b.ctx, `UPDATE storms SET ended_at = ? WHERE digest_id = ? AND ended_at IS NULL`, nanos(env.At), inc.ID); err != nil {
			return err
		}
		b.storm = nil
	}
	if inc.ID == 0 {
		labels, _, err := marshalLabelsLinks(inc.Labels, nil)
		if err != nil {
			return err
		}
		res, err := b.exec(b.src.incidentInsert, inc.GroupKey, inc.Source, inc.State, inc.Severity, inc.Title,
			nanos(inc.CreatedAt), nanos(inc.UpdatedAt), inc.AcknowledgedBy, nullNanos(inc.AcknowledgedAt),
			nullNanos(inc.ResolvedAt), nullNanos(inc.SnoozedUntil), inc.FiringAlerts, inc.Firing[1], inc.Firing[2], inc.Firing[3], labels,
			inc.EscalationStep, inc.Held, inc.Flapping, flapJSON(inc), nullNanos(inc.FlapNotifiedAt), inc.StormID,
			inc.SilenceID, nullNanos(inc.SilencedUntil))
		if err != nil {
			return err
		}
		if inc.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		b.created[inc.ID] = true
		b.newest[inc.GroupKey] = inc.ID
		if joins {
			if err := b.addToDigest(inc, env); err != nil {
				return err
			}
		}
	} else if !b.isDirty[inc.ID] {
		b.isDirty[inc.ID] = true
		b.dirty = append(b.dirty, inc.ID)
	}
	b.byID[inc.ID] = inc
	for _, tc := range ch.Timers {
		var err error
		if tc.DueAt.IsZero() {
			_, err = b.exec(b.src.timerClear, inc.ID, tc.Kind)
		} else {
			_, err = b.exec(b.src.timerSet, inc.ID, tc.Kind, nanos(tc.DueAt))
		}
		if err != nil {
			return err
		}
	}
	if !ch.Quiet {
		if !b.isNotify[inc.ID] {
			b.isNotify[inc.ID] = true
			b.notify = append(b.notify, inc.ID)
		}
		b.onlyShown[inc.ID] = ch.OnlyShown
	}
	if a := ch.Alert; a != nil {
		k := alertKey{inc.ID, a.DedupKey}
		b.alerts[k] = a
		if !b.alertDirt[k] {
			b.alertDirt[k] = true
			b.alertRows = append(b.alertRows, k)
		}
	}
	if ch.ResolveAlerts {
		// Write what is pending first, then resolve the lot in the table.
		if err := b.flushAlerts(); err != nil {
			return err
		}
		if _, err := b.exec(b.src.alertsResolveAll, nanos(env.At), nanos(env.At), inc.ID); err != nil {
			return err
		}
		for k := range b.alerts {
			if k.incident == inc.ID {
				delete(b.alerts, k)
			}
		}
		delete(b.created, inc.ID) // its alerts are in the table now

	}
	for _, e := range ch.Timeline {
		b.timeline = append(b.timeline, inc.ID, nanos(e.At), e.Kind, e.Actor, e.Origin, e.Detail)
	}
	return nil
}

func (s *Store) flush(b *batch) error {
	for _, id := range b.dirty {
		inc := b.byID[id]
		_, err := b.exec(b.src.incidentUpdate, inc.State, inc.Severity, inc.Title, nanos(inc.UpdatedAt), inc.AcknowledgedBy,
			nullNanos(inc.AcknowledgedAt), nullNanos(inc.ResolvedAt), nullNanos(inc.SnoozedUntil), inc.FiringAlerts,
			inc.Firing[1], inc.Firing[2], inc.Firing[3], inc.EscalationStep, inc.Held, inc.Flapping, flapJSON(inc),
			nullNanos(inc.FlapNotifiedAt), inc.SilenceID, nullNanos(inc.SilencedUntil), inc.ResolvedBy, inc.ID)
		if err != nil {
			return err
		}
	}
	if err := b.flushAlerts(); err != nil {
		return err
	}
	// The notification is rendered from the incident when it is sent: a
	// pending one already covers this change.
	now := nanos(s.now())
	for _, id := range b.notify {
		targets, err := s.targetsOf(b, b.byID[id])
		if err != nil {
			return err
		}
		for _, t := range targets {
			if _, err := b.exec(b.src.outboxQueue, t, id, now, now); err != nil {
				return err
			}
		}
	}
	if err := b.insertRows(b.src.timelineInsert, 6, b.timeline); err != nil {
		return err
	}
	return b.insertRows(b.src.eventInsert, 7, b.events)
}

func (b *batch) flushAlerts() error {
	rows := make([]any, 0, 11*len(b.alertRows))
	for _, k := range b.alertRows {
		a := b.alerts[k]
		labels, links, err := marshalLabelsLinks(a.Labels, a.Links)
		if err != nil {
			return err
		}
		rows = append(rows, k.incident, a.DedupKey, a.Status, a.Severity, a.Summary, labels,
			string(a.Details), links, nanos(a.StartsAt), nullNanos(a.EndsAt), nanos(a.UpdatedAt))
	}
	b.alertRows = b.alertRows[:0]
	clear(b.alertDirt)
	return b.insertRows(b.src.alertUpsert, 11, rows)
}

// targetsOf are the targets an incident's change goes to: where the
// routes send it now, and every target that already shows it (so that none
// is left showing an old state).
func (s *Store) targetsOf(b *batch, inc *incidents.Incident) ([]string, error) {
	if len(s.targets) == 0 {
		return nil, nil
	}
	known := s.knownTargets
	routed := s.targets
	if s.routes != nil {
		routed = s.routes.Targets(inc)
	}
	if b.onlyShown[inc.ID] {
		routed = nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(t string) {
		if known[t] && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, t := range routed {
		add(t)
	}
	if b.created[inc.ID] {
		return out, nil
	}
	rows, err := b.stmt(b.src.outboxTargets).QueryContext(b.ctx, inc.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		add(t)
	}
	return out, rows.Err()
}

// flapJSON encodes an incident's recent state changes.
func flapJSON(inc *incidents.Incident) string {
	ns := make([]int64, len(inc.FlapTimes))
	for i, t := range inc.FlapTimes {
		ns[i] = nanos(t)
	}
	b, _ := json.Marshal(ns)
	return string(b)
}

// marshalLabelsLinks encodes labels ({} for none) and links ("" for none)
// as the database keeps them.
func marshalLabelsLinks(labels map[string]string, links []incidents.Link) (string, string, error) {
	l, k := []byte("{}"), []byte(nil)
	var err error
	if labels != nil {
		if l, err = json.Marshal(labels); err != nil {
			return "", "", err
		}
	}
	if len(links) > 0 {
		if k, err = json.Marshal(links); err != nil {
			return "", "", err
		}
	}
	return string(l), string(k), nil
}

// insertRows writes flattened rows of cols values, as many at a time as
// the statements allow.
func (b *batch) insertRows(stmts [len(rowsPerStmt)]*sql.Stmt, cols int, rows []any) error {
	for len(rows) > 0 {
		i := 0
		for len(rows) < rowsPerStmt[i]*cols {
			i++
		}
		n, st := rowsPerStmt[i], stmts[i]
		if _, err := b.exec(st, rows[:n*cols]...); err != nil {
			return err
		}
		rows = rows[n*cols:]
	}
	return nil
}
