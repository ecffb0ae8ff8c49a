-- Same schema as migrations/postgres/0001; see the comments there.
CREATE TABLE channels (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    last_seq      INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL
);

-- WITHOUT ROWID clusters rows on (channel_id, seq), so history pages are contiguous reads.
CREATE TABLE messages (
    channel_id    INTEGER NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    sender        TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    client_msg_id TEXT,
    created_at_ms INTEGER NOT NULL,
    edited_at_ms  INTEGER,
    deleted_at_ms INTEGER,
    PRIMARY KEY (channel_id, seq)
) WITHOUT ROWID;

CREATE UNIQUE INDEX messages_client_msg_id
    ON messages (channel_id, sender, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
