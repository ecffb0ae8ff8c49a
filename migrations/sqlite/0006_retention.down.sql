DROP INDEX notes_removed;
ALTER TABLE note_clock DROP COLUMN purged_rev;
ALTER TABLE channels DROP COLUMN trimmed_to;
