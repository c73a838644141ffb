-- Upgrade plans: what a flake update would change, by lock file hash.
CREATE TABLE upgrade_plans (
	id           INTEGER PRIMARY KEY,
	created_at   INTEGER NOT NULL,
	head         TEXT    NOT NULL,
	lock_hash    TEXT    NOT NULL,
	requested_by TEXT    NOT NULL,
	body         TEXT    NOT NULL
);
