-- Notifications to deliver, written in the reducer's transaction. One
-- pending row per target and incident: a later change updates it, so a
-- burst of changes is one notification of the latest state.
CREATE TABLE outbox (
	id          INTEGER PRIMARY KEY,
	target      TEXT    NOT NULL,
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	state       TEXT    NOT NULL DEFAULT 'pending', -- pending, sent, given_up
	created_at  INTEGER NOT NULL,
	next_at     INTEGER NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	-- bumped by every change coalesced into a pending row: a send only
	-- marks the version it rendered as sent
	version     INTEGER NOT NULL DEFAULT 0,
	last_error  TEXT    NOT NULL DEFAULT '',
	done_at     INTEGER
);
CREATE UNIQUE INDEX outbox_pending ON outbox (target, incident_id) WHERE state = 'pending';
CREATE INDEX outbox_due ON outbox (state, next_at);
