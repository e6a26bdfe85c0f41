-- Workflows: graph documents with immutable versions, their runs (a status
-- machine plus the latest checkpoint), a checkpoint per super-step, and the
-- record of every node executed.
CREATE TABLE workflows (
    id                     TEXT PRIMARY KEY,
    owner_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                   TEXT NOT NULL,
    description            TEXT NOT NULL DEFAULT '',
    latest_version         INTEGER NOT NULL,
    published_version      INTEGER NOT NULL DEFAULT 0,
    keep_checkpoints       INTEGER NOT NULL DEFAULT 0,
    checkpoint_ttl_seconds BIGINT NOT NULL DEFAULT 0,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX workflows_owner ON workflows (owner_id, id);
--bun:split
CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    spec        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, version)
);
--bun:split
CREATE TABLE workflow_threads (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workflow_id   TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    policy        TEXT NOT NULL,
    state         JSONB,
    active_run_id TEXT NOT NULL DEFAULT '',
    last_run_id   TEXT NOT NULL DEFAULT '',
    last_error    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX workflow_threads_owner ON workflow_threads (owner_id, id);
--bun:split
CREATE TABLE workflow_runs (
    id               TEXT PRIMARY KEY,
    workflow_id      TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version          INTEGER NOT NULL,
    owner_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    thread_id        TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    origin           TEXT NOT NULL DEFAULT 'api',
    input            JSONB NOT NULL,
    checkpoint       JSONB,
    checkpoint_id    TEXT NOT NULL DEFAULT '',
    resume           JSONB,
    forked_from      TEXT NOT NULL DEFAULT '',
    error_code       TEXT NOT NULL DEFAULT '',
    error_message    TEXT NOT NULL DEFAULT '',
    failed_node      TEXT NOT NULL DEFAULT '',
    background       BOOLEAN NOT NULL DEFAULT FALSE,
    attempt          INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT NOT NULL DEFAULT '',
    heartbeat_at     TIMESTAMPTZ,
    deadline_at      TIMESTAMPTZ,
    interrupt_until  TIMESTAMPTZ,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ
) WITH (fillfactor = 70); -- room for HOT updates: a run's row changes at every super-step
--bun:split
CREATE INDEX workflow_runs_owner ON workflow_runs (owner_id, id);
--bun:split
CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_id, id);
--bun:split
CREATE INDEX workflow_runs_thread ON workflow_runs (thread_id, id) WHERE thread_id <> '';
--bun:split
CREATE INDEX workflow_runs_active ON workflow_runs (status, heartbeat_at) WHERE status IN ('queued', 'running');
--bun:split
CREATE INDEX workflow_runs_waiting ON workflow_runs (interrupt_until) WHERE status = 'interrupted';
--bun:split
CREATE TABLE workflow_checkpoints (
    id          TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    workflow_id TEXT NOT NULL,
    step        INTEGER NOT NULL,
    data        JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX workflow_checkpoints_run ON workflow_checkpoints (run_id, step);
--bun:split
CREATE INDEX workflow_checkpoints_workflow ON workflow_checkpoints (workflow_id, created_at);
--bun:split
CREATE TABLE workflow_steps (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    node         TEXT NOT NULL,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    record       JSONB NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX workflow_steps_run ON workflow_steps (run_id, step);
--bun:split
CREATE TABLE workflow_triggers (
    id            TEXT PRIMARY KEY,
    owner_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workflow_id   TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    cron          TEXT NOT NULL DEFAULT '',
    timezone      TEXT NOT NULL DEFAULT '',
    event         TEXT NOT NULL DEFAULT '',
    secret        TEXT NOT NULL DEFAULT '',
    input         JSONB NOT NULL,
    thread_id     TEXT NOT NULL DEFAULT '',
    next_fire_at  TIMESTAMPTZ,
    last_fired_at TIMESTAMPTZ,
    last_run_id   TEXT NOT NULL DEFAULT '',
    last_error    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE INDEX workflow_triggers_owner ON workflow_triggers (owner_id, id);
--bun:split
CREATE INDEX workflow_triggers_due ON workflow_triggers (next_fire_at) WHERE type = 'cron' AND enabled;
--bun:split
CREATE INDEX workflow_triggers_event ON workflow_triggers (event) WHERE type = 'event';
