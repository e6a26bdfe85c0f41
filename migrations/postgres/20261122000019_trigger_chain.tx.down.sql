ALTER TABLE workflow_runs DROP COLUMN trigger_chain;
