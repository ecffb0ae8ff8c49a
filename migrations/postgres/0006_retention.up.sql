-- Retention. `trimmed_to` is the highest seq removed from the channel by retention: every
-- message at or below it is gone, every one above it is kept, so a reader can tell "removed"
-- from "never existed". Retention raises it (never lowers it) as the last statement of the
-- short transaction that deletes, so publishers wait for the channel row's lock only for
-- that commit.
ALTER TABLE channels ADD COLUMN trimmed_to BIGINT NOT NULL DEFAULT 0;

-- The highest note revision whose tombstone was purged: a client resuming from an older
-- revision may have missed a removal, and is told to reload its viewport instead.
ALTER TABLE note_clock ADD COLUMN purged_rev BIGINT NOT NULL DEFAULT 0;

-- Tombstones are purged oldest first.
CREATE INDEX notes_removed ON notes (removed_at_ms) WHERE removed_at_ms IS NOT NULL;
