DROP TABLE audit_events;
--bun:split
DROP TABLE auth_signing_keys;
--bun:split
DROP TABLE api_keys;
--bun:split
DROP TABLE auth_refresh_tokens;
--bun:split
DROP TABLE auth_sessions;
--bun:split
DROP TABLE users;
