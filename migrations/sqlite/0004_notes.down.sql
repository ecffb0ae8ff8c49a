DROP TABLE note_clock;
DROP TABLE notes;
