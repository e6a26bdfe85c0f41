-- Users' own model provider keys, vault-encrypted.
CREATE TABLE provider_keys (
    id         TEXT PRIMARY KEY,
    owner_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    label      TEXT NOT NULL DEFAULT '',
    key_enc    TEXT NOT NULL,
    key_hint   TEXT NOT NULL,
    base_url   TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL
);
--bun:split
CREATE UNIQUE INDEX provider_keys_owner_provider ON provider_keys (owner_id, provider);
