-- Plans and runs of a group of targets, deployed one after the other.
ALTER TABLE deploy_plans ADD COLUMN targets TEXT NOT NULL DEFAULT '[]';
ALTER TABLE deploy_runs ADD COLUMN group_name TEXT NOT NULL DEFAULT '';
