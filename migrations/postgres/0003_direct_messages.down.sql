DROP TABLE read_state;
DROP TABLE blocks;
DROP TABLE dm_threads;
