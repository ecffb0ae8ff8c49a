-- Channels and their messages. The channel row carries the last assigned sequence number:
-- a publish increments it inside the same transaction that inserts the message, so the row
-- lock serialises publishers per channel and sequence numbers are gap-free.
CREATE TABLE channels (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT   NOT NULL UNIQUE,
    last_seq      BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

-- The primary key (channel_id, seq) is the only index history paging and replay need:
-- every read is a range scan on it, whatever the table's size.
CREATE TABLE messages (
    channel_id    BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    seq           BIGINT NOT NULL,
    sender        TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    client_msg_id TEXT,
    created_at_ms BIGINT NOT NULL,
    edited_at_ms  BIGINT,
    deleted_at_ms BIGINT,
    PRIMARY KEY (channel_id, seq)
);

-- Idempotent publish: a sender's retry with the same client message id finds the original.
CREATE UNIQUE INDEX messages_client_msg_id
    ON messages (channel_id, sender, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
