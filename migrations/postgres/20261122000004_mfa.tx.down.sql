DROP TABLE auth_recovery_codes;
--bun:split
DROP TABLE auth_mfa_totp;
