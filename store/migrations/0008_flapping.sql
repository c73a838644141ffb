-- Flap detection: recent state changes (a JSON list of Unix nanoseconds)
-- and when people were last told while it flapped.
ALTER TABLE incidents ADD COLUMN flapping INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN flap_times TEXT NOT NULL DEFAULT '[]';
ALTER TABLE incidents ADD COLUMN flap_notified_at INTEGER;
