DROP TABLE workflow_triggers;
--bun:split
DROP TABLE workflow_steps;
--bun:split
DROP TABLE workflow_checkpoints;
--bun:split
DROP TABLE workflow_runs;
--bun:split
DROP TABLE workflow_threads;
--bun:split
DROP TABLE workflow_versions;
--bun:split
DROP TABLE workflows;
