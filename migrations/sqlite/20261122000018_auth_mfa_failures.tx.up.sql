-- Failed second-factor guesses per account, across challenges, processes
-- and addresses: the count behind MFA's growing backoff (issue 13, finding 8).
CREATE TABLE auth_mfa_failures (
    user_id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures        INTEGER NOT NULL DEFAULT 0,
    last_failure_at TIMESTAMP,
    locked_until    TIMESTAMP
);
