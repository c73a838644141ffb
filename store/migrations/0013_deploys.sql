-- Deploy and rollback plans waiting for approval, and runs.
CREATE TABLE deploy_plans (
	id              INTEGER PRIMARY KEY,
	kind            TEXT    NOT NULL,
	target          TEXT    NOT NULL,
	requested       TEXT    NOT NULL,
	from_rev        TEXT    NOT NULL,
	to_rev          TEXT    NOT NULL,
	commits         TEXT    NOT NULL,
	rewritten       INTEGER NOT NULL,
	second_approval INTEGER NOT NULL,
	requested_by    TEXT    NOT NULL,
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	approved_by     TEXT    NOT NULL DEFAULT '',
	run_id          INTEGER
);

CREATE TABLE deploy_runs (
	id          INTEGER PRIMARY KEY,
	plan_id     INTEGER,
	kind        TEXT    NOT NULL,
	target      TEXT    NOT NULL,
	driver      TEXT    NOT NULL,
	mode        TEXT    NOT NULL DEFAULT '',
	from_rev    TEXT    NOT NULL,
	to_rev      TEXT    NOT NULL,
	actor       TEXT    NOT NULL,
	origin      TEXT    NOT NULL,
	approved_by TEXT    NOT NULL,
	state       TEXT    NOT NULL,
	phase       TEXT    NOT NULL,
	started_at  INTEGER NOT NULL,
	ended_at    INTEGER,
	exit_status INTEGER,
	outcome     TEXT    NOT NULL DEFAULT '',
	output      TEXT    NOT NULL DEFAULT '',
	parent_id   INTEGER,
	chat_ref    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX deploy_runs_target ON deploy_runs (target, id);
-- The lock: one running run per target.
CREATE UNIQUE INDEX deploy_runs_lock ON deploy_runs (target) WHERE state = 'running';
