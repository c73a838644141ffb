-- Maintenance windows: incidents they match are recorded as usual, but
-- people are told only when the window ends.
CREATE TABLE maintenance (
	id         INTEGER PRIMARY KEY,
	matchers   TEXT    NOT NULL,
	comment    TEXT    NOT NULL DEFAULT '',
	created_by TEXT    NOT NULL,
	starts_at  INTEGER NOT NULL,
	ends_at    INTEGER NOT NULL,
	released   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX maintenance_ends ON maintenance (released, ends_at);
ALTER TABLE incidents ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
