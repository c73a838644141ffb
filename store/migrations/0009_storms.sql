-- Alert storms: incidents that open during one join it, and one digest
-- incident is shown instead of them.
CREATE TABLE storms (
	id         INTEGER PRIMARY KEY,
	digest_id  INTEGER NOT NULL DEFAULT 0, -- the digest incident, once it exists
	started_at INTEGER NOT NULL,
	ended_at   INTEGER
);
ALTER TABLE incidents ADD COLUMN storm_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX incidents_created ON incidents (created_at);
