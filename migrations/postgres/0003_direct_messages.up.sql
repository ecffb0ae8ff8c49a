-- Direct-message threads, blocks and read positions. A thread's messages live in the
-- channel of the same name (dm:LOW:HIGH); this row records that the pair started one, and
-- lets an address list its threads without scanning channel names.
CREATE TABLE dm_threads (
    channel       TEXT   PRIMARY KEY,
    low           TEXT   NOT NULL,
    high          TEXT   NOT NULL,
    started_by    TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX dm_threads_low ON dm_threads (low);
CREATE INDEX dm_threads_high ON dm_threads (high);

-- One row per (blocker, blocked): the blocked address may not write to the blocker.
CREATE TABLE blocks (
    blocker       TEXT   NOT NULL,
    blocked       TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (blocker, blocked)
);

-- How far an address has read a channel or thread. The seq only moves forward, so devices
-- that report out of order cannot move it back.
CREATE TABLE read_state (
    address       TEXT   NOT NULL,
    channel       TEXT   NOT NULL,
    seq           BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (address, channel)
);
