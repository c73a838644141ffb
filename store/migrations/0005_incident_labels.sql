-- The labels of the alert that opened an incident, for routing.
ALTER TABLE incidents ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
