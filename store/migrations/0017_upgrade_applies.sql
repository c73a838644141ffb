-- Rolling upgrades and their progress, node by node.
CREATE TABLE upgrade_applies (
	id      INTEGER PRIMARY KEY,
	plan_id INTEGER NOT NULL,
	state   TEXT    NOT NULL,
	body    TEXT    NOT NULL
);
