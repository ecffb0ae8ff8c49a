-- Notes pinned to map tiles. A removed note (deleted by its author, or past its expiry) stays
-- as a tombstone, so clients resuming from a revision learn that it is gone.
CREATE TABLE notes (
    id            BIGSERIAL PRIMARY KEY,
    author        TEXT   NOT NULL,
    x             BIGINT NOT NULL,
    y             BIGINT NOT NULL,
    title         TEXT   NOT NULL,
    body          TEXT   NOT NULL,
    visibility    TEXT   NOT NULL,
    -- KIND:ID of a group note.
    group_key     TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT,
    removed_at_ms BIGINT,
    -- deleted or expired.
    removal       TEXT,
    -- The note clock's value at the note's last change: what `sync` resumes from.
    rev           BIGINT NOT NULL
);
CREATE INDEX notes_tile ON notes (x, y);
CREATE INDEX notes_rev ON notes (rev);
CREATE INDEX notes_author ON notes (author) WHERE removed_at_ms IS NULL;
CREATE INDEX notes_expiry ON notes (expires_at_ms) WHERE removed_at_ms IS NULL;

-- One row: the revision of the latest note change. Each change takes the next value inside
-- its transaction, so revisions are unique and commit in order per row lock.
CREATE TABLE note_clock (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    rev BIGINT NOT NULL
);
INSERT INTO note_clock (id, rev) VALUES (1, 0);
