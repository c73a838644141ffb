-- Times are Unix nanoseconds (UTC); NULL where there is none.
CREATE TABLE incidents (
	id              INTEGER PRIMARY KEY,
	group_key       TEXT    NOT NULL,
	source          TEXT    NOT NULL,
	state           TEXT    NOT NULL,
	severity        TEXT    NOT NULL,
	title           TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	acknowledged_by TEXT    NOT NULL DEFAULT '',
	acknowledged_at INTEGER,
	resolved_at     INTEGER,
	snoozed_until   INTEGER,
	firing_alerts   INTEGER NOT NULL DEFAULT 0,
	-- firing alerts by severity, so no event has to count them
	firing_info     INTEGER NOT NULL DEFAULT 0,
	firing_warning  INTEGER NOT NULL DEFAULT 0,
	firing_critical INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX incidents_group ON incidents (group_key, id);
CREATE INDEX incidents_state ON incidents (state, id);

CREATE TABLE alerts (
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	dedup_key   TEXT    NOT NULL,
	status      TEXT    NOT NULL,
	severity    TEXT    NOT NULL,
	summary     TEXT    NOT NULL,
	labels      TEXT    NOT NULL DEFAULT '{}',
	details     TEXT    NOT NULL DEFAULT '',
	links       TEXT    NOT NULL DEFAULT '',
	starts_at   INTEGER NOT NULL,
	ends_at     INTEGER,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (incident_id, dedup_key)
) WITHOUT ROWID;

CREATE TABLE timeline (
	id          INTEGER PRIMARY KEY,
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	at          INTEGER NOT NULL,
	kind        TEXT    NOT NULL,
	actor       TEXT    NOT NULL,
	origin      TEXT    NOT NULL,
	detail      TEXT    NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id, id);

-- Every applied stream message, by delivery id: the reducer's idempotency.
CREATE TABLE events (
	id          TEXT    PRIMARY KEY,
	seq         INTEGER NOT NULL,
	at          INTEGER NOT NULL,
	applied_at  INTEGER NOT NULL,
	incident_id INTEGER,
	outcome     TEXT    NOT NULL DEFAULT '',
	refusal     TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
