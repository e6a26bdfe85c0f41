DROP TABLE run_steps;
--bun:split
DROP TABLE runs;
