-- Sign-ins through external providers (Google, GitHub, Microsoft). The
-- provider's tokens are kept vault-encrypted for later integrations.
CREATE TABLE auth_identities (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    subject           TEXT NOT NULL,
    email             TEXT NOT NULL DEFAULT '',
    access_token_enc  TEXT NOT NULL DEFAULT '',
    refresh_token_enc TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL,
    last_login_at     TIMESTAMPTZ NOT NULL
);
--bun:split
CREATE UNIQUE INDEX auth_identities_provider_subject ON auth_identities (provider, subject);
--bun:split
CREATE INDEX auth_identities_user ON auth_identities (user_id);
