-- Idempotency records are now keyed by credential, and responses carrying a
-- one-time secret are sealed with the vault. Records made before were keyed
-- by user (no request can reach them any more) and may hold such secrets in
-- the clear: drop them rather than let them sit out their 24 hours.
DELETE FROM pulse_kv WHERE namespace = 'idempotency';
