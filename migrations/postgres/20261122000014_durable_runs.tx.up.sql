-- Durable runs: a run executing in the background holds a lease that its
-- worker renews (heartbeat_at); the reaper re-queues runs whose worker
-- vanished and fails runs past their deadline.
ALTER TABLE runs ADD COLUMN background BOOLEAN NOT NULL DEFAULT FALSE;
--bun:split
ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
--bun:split
ALTER TABLE runs ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMPTZ;
--bun:split
ALTER TABLE runs ADD COLUMN deadline_at TIMESTAMPTZ;
--bun:split
ALTER TABLE runs ADD COLUMN job_id TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
--bun:split
CREATE INDEX runs_active ON runs (status, heartbeat_at) WHERE status IN ('queued', 'running');
--bun:split
-- Jobs: work done in the background for a user (an agent run, or a named
-- built-in task), with the status clients poll.
CREATE TABLE jobs (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,
    payload     JSONB NOT NULL,
    result      JSONB,
    error       TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_id      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    started_at  TIMESTAMPTZ,
    finished_at TIMESTAMPTZ
);
--bun:split
CREATE INDEX jobs_owner ON jobs (owner_id, id);
--bun:split
-- The events bus's replay window (cluster mode without Redis): rows are
-- announced with NOTIFY and pruned after a few minutes.
CREATE TABLE pulse_events (
    id         BIGSERIAL PRIMARY KEY,
    topic      TEXT NOT NULL,
    user_id    TEXT NOT NULL DEFAULT '',
    type       TEXT NOT NULL,
    data       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
--bun:split
CREATE INDEX pulse_events_created ON pulse_events (created_at);
