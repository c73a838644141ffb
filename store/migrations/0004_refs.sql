-- What a target knows an incident's notification by (a Discord message
-- id), so that later changes edit it.
CREATE TABLE notification_refs (
	target      TEXT    NOT NULL,
	incident_id INTEGER NOT NULL REFERENCES incidents (id),
	ref         TEXT    NOT NULL,
	PRIMARY KEY (target, incident_id)
) WITHOUT ROWID;
