package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/opsbot/opsbot/incidents"
)

// StormSource is the source of storm digests.
const StormSource = "opsbot"

type storm struct {
	id, digest int64
}

// stormCheck decides whether a newly opened incident joins an alert storm:
// more than StormOpens incidents opened within StormWindow. Then its page
// is held and, once inserted, it is listed in the storm's digest.
func (b *batch) stormCheck(ch *incidents.Change, inc *incidents.Incident, env *incidents.Envelope) (bool, error) {
	r := b.s.rules
	if r.StormOpens <= 0 || ch.Outcome != "opened" || inc.ID != 0 || inc.Source == StormSource {
		return false, nil
	}
	var n int
	err := b.tx.QueryRowContext(b.ctx, `SELECT count(*) FROM incidents WHERE created_at > ? AND source <> ?`,
		nanos(env.At.Add(-r.StormWindow)), StormSource).Scan(&n)
	if err != nil {
		return false, err
	}
	if n+1 <= r.StormOpens {
		return false, nil
	}
	st, err := b.currentStorm(env)
	if err != nil {
		return false, err
	}
	inc.StormID, ch.Quiet = st.id, true
	ch.Timeline = append(ch.Timeline, incidents.Entry{At: env.At, Kind: incidents.KindStorm, Actor: "opsbot", Origin: "storm detection",
		Detail: fmt.Sprintf("opened during an alert storm: shown in the storm's digest, incident #%d", st.digest)})
	return true, nil
}

// currentStorm is the storm in progress, started now if there is none.
func (b *batch) currentStorm(env *incidents.Envelope) (*storm, error) {
	if b.storm != nil {
		return b.storm, nil
	}
	var st storm
	err := b.tx.QueryRowContext(b.ctx, `SELECT id, digest_id FROM storms WHERE ended_at IS NULL ORDER BY id DESC LIMIT 1`).Scan(&st.id, &st.digest)
	if err == nil {
		b.storm = &st
		return b.storm, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	// The digest is an incident of its own: notified, edited and resolved
	// like any other.
	res, err := b.tx.ExecContext(b.ctx, `INSERT INTO storms (digest_id, started_at) VALUES (0, ?)`, nanos(env.At))
	if err != nil {
		return nil, err
	}
	if st.id, err = res.LastInsertId(); err != nil {
		return nil, err
	}
	b.storm = &st
	return b.storm, nil
}

// addToDigest lists a storm's incident as an alert of the storm's digest.
func (b *batch) addToDigest(inc *incidents.Incident, env *incidents.Envelope) error {
	st := b.storm
	r := b.s.rules
	ev := &incidents.Event{
		ID: "storm-" + strconv.FormatInt(inc.ID, 10), Source: StormSource, Action: incidents.Trigger,
		DedupKey: "incident-" + strconv.FormatInt(inc.ID, 10), GroupKey: "opsbot:storm:" + strconv.FormatInt(st.id, 10),
		Severity: inc.Severity, Summary: fmt.Sprintf("#%d %s", inc.ID, inc.Title),
		Labels: map[string]string{"incident": strconv.FormatInt(inc.ID, 10), "source": inc.Source},
	}
	if err := ev.Validate(incidents.Warning); err != nil {
		return err
	}
	v, err := b.view(ev)
	if err != nil {
		return err
	}
	ch := r.ApplyEvent(v, ev, env.At, "storm detection")
	if ch.Incident == nil {
		return nil
	}
	if ch.Outcome == "opened" {
		ch.Incident.Title = fmt.Sprintf("Alert storm: more than %d incidents opened within %s", r.StormOpens, r.StormWindow)
	}
	ch.Timers = append(ch.Timers, incidents.TimerChange{Kind: incidents.StormEnd, DueAt: env.At.Add(r.StormWindow)})
	if err := b.write(&ch, env); err != nil {
		return err
	}
	if st.digest == 0 {
		st.digest = ch.Incident.ID
		if _, err := b.tx.ExecContext(b.ctx, `UPDATE storms SET digest_id = ? WHERE id = ?`, st.digest, st.id); err != nil {
			return err
		}
	}
	return nil
}
