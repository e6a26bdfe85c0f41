DROP TABLE jobs;
--bun:split
DROP INDEX runs_active;
--bun:split
ALTER TABLE runs DROP COLUMN cancel_requested;
--bun:split
ALTER TABLE runs DROP COLUMN job_id;
--bun:split
ALTER TABLE runs DROP COLUMN deadline_at;
--bun:split
ALTER TABLE runs DROP COLUMN heartbeat_at;
--bun:split
ALTER TABLE runs DROP COLUMN lease_owner;
--bun:split
ALTER TABLE runs DROP COLUMN attempt;
--bun:split
ALTER TABLE runs DROP COLUMN background;
