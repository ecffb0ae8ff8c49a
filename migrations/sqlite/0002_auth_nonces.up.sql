-- Same schema as migrations/postgres/0002; see the comments there.
CREATE TABLE auth_nonces (
    nonce         TEXT    PRIMARY KEY,
    address       TEXT    NOT NULL,
    issued_at_ms  INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

CREATE INDEX auth_nonces_expires ON auth_nonces (expires_at_ms);
