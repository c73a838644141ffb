-- Who resolved an incident by hand; empty when its source resolved it.
ALTER TABLE incidents ADD COLUMN resolved_by TEXT NOT NULL DEFAULT '';
