-- The Alertmanager silence of an incident's alerts.
ALTER TABLE incidents ADD COLUMN silence_id TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN silenced_until INTEGER;
