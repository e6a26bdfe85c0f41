-- The planner: tasks, busy time on the calendar, the applied schedule's
-- blocks, and per user the preferences and the state of the last plan.
CREATE TABLE planner_tasks (
    id                TEXT PRIMARY KEY,
    owner_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title             TEXT NOT NULL,
    notes             TEXT NOT NULL DEFAULT '',
    estimate_minutes  INTEGER NOT NULL,
    due_at            TIMESTAMP,
    earliest_start    TIMESTAMP,
    priority          TEXT NOT NULL,
    status            TEXT NOT NULL,
    tags              TEXT NOT NULL DEFAULT '[]',
    course            TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT 'api',
    external_id       TEXT NOT NULL DEFAULT '',
    depends_on        TEXT NOT NULL DEFAULT '[]',
    min_block_minutes INTEGER NOT NULL DEFAULT 0,
    max_block_minutes INTEGER NOT NULL DEFAULT 0,
    splittable        BOOLEAN NOT NULL DEFAULT FALSE,
    max_splits        INTEGER NOT NULL DEFAULT 0,
    preferred_windows TEXT NOT NULL DEFAULT '[]',
    avoid_windows     TEXT NOT NULL DEFAULT '[]',
    pinned            TEXT NOT NULL DEFAULT '[]',
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX planner_tasks_owner ON planner_tasks (owner_id, id);
--bun:split
CREATE INDEX planner_tasks_status ON planner_tasks (owner_id, status);
--bun:split
CREATE INDEX planner_tasks_due ON planner_tasks (owner_id, due_at);
--bun:split
CREATE UNIQUE INDEX planner_tasks_external ON planner_tasks (owner_id, source, external_id) WHERE external_id <> '';
--bun:split
CREATE TABLE calendar_events (
    id           TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        TEXT NOT NULL DEFAULT '',
    start_at     TIMESTAMP NOT NULL,
    end_at       TIMESTAMP NOT NULL,
    all_day      BOOLEAN NOT NULL DEFAULT FALSE,
    transparency TEXT NOT NULL DEFAULT 'busy',
    location     TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL DEFAULT 'api',
    external_id  TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX calendar_events_owner ON calendar_events (owner_id, start_at, id);
--bun:split
CREATE TABLE schedule_blocks (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    task_id     TEXT NOT NULL REFERENCES planner_tasks (id) ON DELETE CASCADE,
    start_at    TIMESTAMP NOT NULL,
    end_at      TIMESTAMP NOT NULL,
    locked      BOOLEAN NOT NULL DEFAULT FALSE,
    done        BOOLEAN NOT NULL DEFAULT FALSE,
    explanation TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX schedule_blocks_owner ON schedule_blocks (owner_id, start_at, id);
--bun:split
CREATE INDEX schedule_blocks_task ON schedule_blocks (task_id);
--bun:split
CREATE TABLE planner_plans (
    owner_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    preferences TEXT,
    unscheduled TEXT NOT NULL DEFAULT '[]',
    at_risk     TEXT NOT NULL DEFAULT '[]',
    planned_at  TIMESTAMP,
    changed_at  TIMESTAMP,
    revision    INTEGER NOT NULL DEFAULT 0,
    updated_at  TIMESTAMP NOT NULL
);
