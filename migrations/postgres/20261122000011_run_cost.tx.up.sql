-- What each run and model step cost, in micro-credits.
ALTER TABLE runs ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0;
--bun:split
ALTER TABLE run_steps ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0;
