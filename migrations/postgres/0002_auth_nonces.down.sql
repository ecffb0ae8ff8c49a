DROP TABLE auth_nonces;
