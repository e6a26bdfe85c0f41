ALTER TABLE workflow_runs ADD COLUMN trigger_chain TEXT NOT NULL DEFAULT '[]';
