//! Statements shared by both backends. sqlx binds `$N` placeholders on SQLite as on
//! Postgres, and both accept `ON CONFLICT … DO NOTHING` and `RETURNING`.

/// Takes the channel row's lock (a no-op update) and reads its id and last seq: writers of
/// one channel, on any instance, queue here for the rest of their transaction.
pub const LOCK_CHANNEL: &str =
    "UPDATE channels SET last_seq = last_seq WHERE name = $1 RETURNING id, last_seq";

pub const SET_LAST_SEQ: &str = "UPDATE channels SET last_seq = $2 WHERE id = $1";

/// Set once per Postgres connection: the row lock above serialises writers only under READ
/// COMMITTED; a database whose default is stricter would fail them with serialization errors.
pub const PG_READ_COMMITTED: &str =
    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED";

pub const CREATE_CHANNEL: &str =
    "INSERT INTO channels (name, created_at_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

pub const FIND_BY_CLIENT_ID: &str = "SELECT seq, sender, body, client_msg_id, created_at_ms, \
     edited_at_ms, deleted_at_ms FROM messages \
     WHERE channel_id = $1 AND sender = $2 AND client_msg_id = $3";

/// Stored messages of a channel with any of the (sender, client message id) pairs given as
/// two arrays.
pub const PG_FIND_BY_CLIENT_IDS: &str = "SELECT seq, sender, body, client_msg_id, \
     created_at_ms, edited_at_ms, deleted_at_ms FROM messages \
     WHERE channel_id = $1 AND client_msg_id IS NOT NULL \
     AND (sender, client_msg_id) IN (SELECT * FROM UNNEST($2::text[], $3::text[]))";

/// Inserts the messages of one channel given as arrays, one element per message.
pub const PG_INSERT_MESSAGES: &str = "INSERT INTO messages \
     (channel_id, seq, sender, body, client_msg_id, created_at_ms) \
     SELECT $1, u.seq, u.sender, u.body, u.client_msg_id, u.created_at_ms \
     FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
     AS u(seq, sender, body, client_msg_id, created_at_ms)";

/// Inserts a message unless its sender already stored one with this client message id in
/// the channel (then no row comes back). Only that conflict is skipped: a taken seq still
/// fails.
pub const SQLITE_INSERT_UNLESS_RETRY: &str = "INSERT INTO messages \
     (channel_id, seq, sender, body, client_msg_id, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (channel_id, sender, client_msg_id) WHERE client_msg_id IS NOT NULL \
     DO NOTHING RETURNING seq";

pub const CHANNEL_HEAD: &str = "SELECT c.last_seq, c.trimmed_to, \
     (SELECT MIN(m.seq) FROM messages m WHERE m.channel_id = c.id) \
     FROM channels c WHERE c.name = $1";

pub const TRIMMED_TO: &str = "SELECT trimmed_to FROM channels WHERE name = $1";

/// The newest seq of each named channel that exists (Postgres: the names as one array).
pub const PG_CHANNEL_HEADS: &str =
    "SELECT name, last_seq FROM channels WHERE name = ANY($1::text[])";

/// [`PG_CHANNEL_HEADS`] for SQLite, which has no arrays: the list of `$N` placeholders is
/// appended, one per name.
pub const SQLITE_CHANNEL_HEADS: &str = "SELECT name, last_seq FROM channels WHERE name IN ";

/// Ascending from `after` (exclusive) up to `before` (exclusive).
pub const PAGE_FORWARD: &str = "SELECT m.seq, m.sender, m.body, m.client_msg_id, \
     m.created_at_ms, m.edited_at_ms, m.deleted_at_ms \
     FROM messages m JOIN channels c ON c.id = m.channel_id \
     WHERE c.name = $1 AND m.seq > $2 AND m.seq < $3 ORDER BY m.seq ASC LIMIT $4";

/// Descending below `before` (exclusive); the caller reverses the page.
pub const PAGE_BACKWARD: &str = "SELECT m.seq, m.sender, m.body, m.client_msg_id, \
     m.created_at_ms, m.edited_at_ms, m.deleted_at_ms \
     FROM messages m JOIN channels c ON c.id = m.channel_id \
     WHERE c.name = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3";

pub const PING: &str = "SELECT 1";

pub const APPLIED_VERSIONS: &str =
    "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";

/// Columns of a message row, in the order the SELECTs above return them.
pub type MessageRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);
