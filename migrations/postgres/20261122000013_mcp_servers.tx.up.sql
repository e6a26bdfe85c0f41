-- Remote MCP servers whose tools agents may call.
CREATE TABLE mcp_servers (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    headers_enc TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE UNIQUE INDEX mcp_servers_owner_name ON mcp_servers (owner_id, name);
