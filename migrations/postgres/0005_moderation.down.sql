DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE reports;
DROP TABLE moderation_jobs;
DROP TABLE revoked_tokens;
DROP TABLE sanctions;
