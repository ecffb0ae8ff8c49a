DROP TABLE messages;
DROP TABLE channels;
