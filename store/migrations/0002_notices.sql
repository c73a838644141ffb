-- Events recorded for people to see, never incidents (image updates, test
-- notifications, certificate notices).
CREATE TABLE notices (
	id          INTEGER PRIMARY KEY,
	event_id    TEXT    NOT NULL,
	source      TEXT    NOT NULL,
	dedup_key   TEXT    NOT NULL,
	severity    TEXT    NOT NULL,
	summary     TEXT    NOT NULL,
	labels      TEXT    NOT NULL DEFAULT '{}',
	details     TEXT    NOT NULL DEFAULT '',
	links       TEXT    NOT NULL DEFAULT '',
	occurred_at INTEGER NOT NULL,
	at          INTEGER NOT NULL
);
CREATE INDEX notices_source ON notices (source, id);
