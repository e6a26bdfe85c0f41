-- pulse_kv: short-lived keyed values (idempotency records, OAuth states,
-- one-time codes) with an optional expiry. Expired rows are pruned by the
-- periodic maintenance job.
CREATE TABLE pulse_kv (
    namespace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BYTEA NOT NULL,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (namespace, key)
);
--bun:split
CREATE INDEX pulse_kv_expires_at ON pulse_kv (expires_at) WHERE expires_at IS NOT NULL;
