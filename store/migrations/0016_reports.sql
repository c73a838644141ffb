-- Scheduled (and asked for) reports.
CREATE TABLE reports (
	id         INTEGER PRIMARY KEY,
	kind       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	state      TEXT    NOT NULL,
	body       TEXT    NOT NULL
);
