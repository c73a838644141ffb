-- Timers of incidents, set and cleared by the reducer; when one is due, the
-- timer loop publishes a command that the reducer applies.
CREATE TABLE timers (
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	kind        TEXT    NOT NULL,
	due_at      INTEGER NOT NULL,
	PRIMARY KEY (incident_id, kind)
) WITHOUT ROWID;
CREATE INDEX timers_due ON timers (due_at);
ALTER TABLE incidents ADD COLUMN escalation_step INTEGER NOT NULL DEFAULT 0;
