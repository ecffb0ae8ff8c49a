-- Same schema as migrations/postgres/0006; see the comments there.
ALTER TABLE channels ADD COLUMN trimmed_to INTEGER NOT NULL DEFAULT 0;
ALTER TABLE note_clock ADD COLUMN purged_rev INTEGER NOT NULL DEFAULT 0;
CREATE INDEX notes_removed ON notes (removed_at_ms) WHERE removed_at_ms IS NOT NULL;
