DROP TABLE auth_mfa_failures;
