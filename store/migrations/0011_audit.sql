-- Every action people took or tried, allowed or refused.
CREATE TABLE audit (
	id      INTEGER PRIMARY KEY,
	at      INTEGER NOT NULL,
	actor   TEXT    NOT NULL,
	via     TEXT    NOT NULL,
	command TEXT    NOT NULL,
	target  TEXT    NOT NULL DEFAULT '',
	allowed INTEGER NOT NULL,
	result  TEXT    NOT NULL DEFAULT ''
);
