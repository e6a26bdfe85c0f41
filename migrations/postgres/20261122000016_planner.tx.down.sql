DROP TABLE planner_plans;
--bun:split
DROP TABLE schedule_blocks;
--bun:split
DROP TABLE calendar_events;
--bun:split
DROP TABLE planner_tasks;
