-- Same schema as migrations/postgres/0003; see the comments there.
CREATE TABLE dm_threads (
    channel       TEXT    PRIMARY KEY,
    low           TEXT    NOT NULL,
    high          TEXT    NOT NULL,
    started_by    TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX dm_threads_low ON dm_threads (low);
CREATE INDEX dm_threads_high ON dm_threads (high);

CREATE TABLE blocks (
    blocker       TEXT    NOT NULL,
    blocked       TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (blocker, blocked)
) WITHOUT ROWID;

CREATE TABLE read_state (
    address       TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (address, channel)
) WITHOUT ROWID;
