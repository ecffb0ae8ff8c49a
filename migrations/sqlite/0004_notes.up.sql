-- Same schema as migrations/postgres/0004; see the comments there.
CREATE TABLE notes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    author        TEXT    NOT NULL,
    x             INTEGER NOT NULL,
    y             INTEGER NOT NULL,
    title         TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    visibility    TEXT    NOT NULL,
    group_key     TEXT,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER,
    removed_at_ms INTEGER,
    removal       TEXT,
    rev           INTEGER NOT NULL
);
CREATE INDEX notes_tile ON notes (x, y);
CREATE INDEX notes_rev ON notes (rev);
CREATE INDEX notes_author ON notes (author) WHERE removed_at_ms IS NULL;
CREATE INDEX notes_expiry ON notes (expires_at_ms) WHERE removed_at_ms IS NULL;

CREATE TABLE note_clock (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    rev INTEGER NOT NULL
);
INSERT INTO note_clock (id, rev) VALUES (1, 0);
