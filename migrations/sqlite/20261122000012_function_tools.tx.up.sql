-- User-defined tools: a JSON Schema and a webhook called with a signed POST.
CREATE TABLE function_tools (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    parameters  TEXT NOT NULL,
    url         TEXT NOT NULL,
    secret_enc  TEXT NOT NULL,
    timeout_ms  INTEGER NOT NULL,
    created_at  TIMESTAMP NOT NULL
);
--bun:split
CREATE UNIQUE INDEX function_tools_owner_name ON function_tools (owner_id, name);
