-- Sign-in challenges. A nonce is consumed by deleting its row, so it can be used once even
-- when the challenge and the verification reach different instances.
CREATE TABLE auth_nonces (
    nonce         TEXT   PRIMARY KEY,
    address       TEXT   NOT NULL,
    issued_at_ms  BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

-- Expired challenges are purged by expiry time.
CREATE INDEX auth_nonces_expires ON auth_nonces (expires_at_ms);
