-- Agents, their immutable versions and per-user grants.
CREATE TABLE agents (
    id              TEXT PRIMARY KEY,
    owner_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    visibility      TEXT NOT NULL DEFAULT 'private',
    tags            TEXT NOT NULL DEFAULT '[]',
    current_version INTEGER NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
--bun:split
CREATE INDEX agents_owner ON agents (owner_id, id);
--bun:split
CREATE TABLE agent_versions (
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    spec       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, version)
);
--bun:split
CREATE TABLE agent_grants (
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, user_id)
);
--bun:split
CREATE INDEX agent_grants_user ON agent_grants (user_id, agent_id);
