DROP TABLE audit_log;
DROP TABLE reports;
DROP TABLE moderation_jobs;
DROP TABLE revoked_tokens;
DROP TABLE sanctions;
