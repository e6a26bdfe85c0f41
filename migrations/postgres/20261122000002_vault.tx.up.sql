-- vault_keys: data keys of the secrets vault, each wrapped (AES-256-GCM) by a
-- key derived from PULSE_SECRET_KEY. The newest unretired key encrypts; all
-- keys decrypt, so rotation never strands a ciphertext.
CREATE TABLE vault_keys (
    id         TEXT PRIMARY KEY,
    key_enc    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    retired_at TIMESTAMPTZ
);
