-- Moderation: sanctions, revoked sessions, the review queue with its reports, and the audit
-- log of every moderator action.

-- Bans and mutes. A sanction holds until `until_ms` (NULL: until lifted) unless lifted.
CREATE TABLE sanctions (
    id            BIGSERIAL PRIMARY KEY,
    address       TEXT   NOT NULL,
    -- ban or mute
    kind          TEXT   NOT NULL,
    -- A mute in one channel; NULL: everywhere.
    channel       TEXT,
    reason        TEXT   NOT NULL,
    created_by    TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    until_ms      BIGINT,
    lifted_at_ms  BIGINT
);
CREATE INDEX sanctions_live ON sanctions (address) WHERE lifted_at_ms IS NULL;

-- Session tokens revoked before their expiry, by `jti`; a row is needed only until the token
-- would have expired anyway.
CREATE TABLE revoked_tokens (
    jti           TEXT   PRIMARY KEY,
    address       TEXT,
    until_ms      BIGINT NOT NULL,
    revoked_at_ms BIGINT NOT NULL
);

-- The review queue: messages held by a content rule, and reported messages and notes. A job
-- is written in the transaction of what caused it. Moderators are told of each job once
-- (`notified_at_ms`), by whichever worker claims it (`claimed_until_ms`).
CREATE TABLE moderation_jobs (
    id               BIGSERIAL PRIMARY KEY,
    -- held or report
    kind             TEXT    NOT NULL,
    -- pending, resolved or dismissed
    state            TEXT    NOT NULL,
    channel          TEXT,
    seq              BIGINT,
    note_id          BIGINT,
    -- Who wrote what is held or reported.
    author           TEXT    NOT NULL,
    -- A held message's text and client message id.
    body             TEXT,
    client_msg_id    TEXT,
    -- The content rule that held it.
    rule             TEXT,
    reports          INTEGER NOT NULL DEFAULT 0,
    created_at_ms    BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL,
    decided_by       TEXT,
    decision_reason  TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT  NOT NULL,
    claimed_until_ms BIGINT,
    notified_at_ms   BIGINT
);
CREATE UNIQUE INDEX moderation_jobs_held
    ON moderation_jobs (channel, author, client_msg_id) WHERE kind = 'held';
CREATE UNIQUE INDEX moderation_jobs_reported_message
    ON moderation_jobs (channel, seq) WHERE kind = 'report' AND state = 'pending' AND note_id IS NULL;
CREATE UNIQUE INDEX moderation_jobs_reported_note
    ON moderation_jobs (note_id) WHERE kind = 'report' AND state = 'pending' AND note_id IS NOT NULL;
CREATE INDEX moderation_jobs_state ON moderation_jobs (state, id);
CREATE INDEX moderation_jobs_due ON moderation_jobs (next_attempt_ms) WHERE notified_at_ms IS NULL;

-- One report per reporter and job: a second report of the same thing by the same address
-- collapses onto the first.
CREATE TABLE reports (
    job_id        BIGINT NOT NULL REFERENCES moderation_jobs (id),
    reporter      TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    comment       TEXT,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (job_id, reporter)
);

-- Every moderator action, append-only: rows cannot be changed or deleted.
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at_ms   BIGINT NOT NULL,
    actor   TEXT   NOT NULL,
    action  TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    reason  TEXT   NOT NULL,
    -- JSON with the action's particulars.
    detail  TEXT
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
