-- Accounts, sessions, refresh tokens, API keys, token signing keys and the
-- audit log.
CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL,
    email_verified_at   TIMESTAMP,
    password_hash       TEXT,
    name                TEXT NOT NULL DEFAULT '',
    avatar_url          TEXT NOT NULL DEFAULT '',
    timezone            TEXT NOT NULL DEFAULT 'UTC',
    locale              TEXT NOT NULL DEFAULT 'en',
    role                TEXT NOT NULL DEFAULT 'user',
    active              BOOLEAN NOT NULL DEFAULT TRUE,
    password_changed_at TIMESTAMP,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);
--bun:split
CREATE UNIQUE INDEX users_email ON users (email);
--bun:split
CREATE TABLE auth_sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    aal           TEXT NOT NULL DEFAULT 'aal1',
    ip            TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    refreshed_at  TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL,
    revoked_at    TIMESTAMP,
    revoke_reason TEXT NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);
--bun:split
CREATE TABLE auth_refresh_tokens (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    used_at       TIMESTAMP,
    successor_id  TEXT,
    successor_enc TEXT
);
--bun:split
CREATE UNIQUE INDEX auth_refresh_tokens_hash ON auth_refresh_tokens (token_hash);
--bun:split
CREATE INDEX auth_refresh_tokens_session ON auth_refresh_tokens (session_id);
--bun:split
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    expires_at   TIMESTAMP,
    revoked_at   TIMESTAMP
);
--bun:split
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
--bun:split
CREATE INDEX api_keys_user ON api_keys (user_id);
--bun:split
CREATE TABLE auth_signing_keys (
    id          TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_enc TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    retired_at  TIMESTAMP
);
--bun:split
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    action     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    actor_id   TEXT NOT NULL DEFAULT '',
    subject_id TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    details    TEXT NOT NULL DEFAULT '{}'
);
--bun:split
CREATE INDEX audit_events_subject ON audit_events (subject_id, id);
--bun:split
CREATE INDEX audit_events_actor ON audit_events (actor_id, id);
--bun:split
CREATE INDEX audit_events_action ON audit_events (action, id);
