ALTER TABLE run_steps DROP COLUMN cost_micros;
--bun:split
ALTER TABLE runs DROP COLUMN cost_micros;
