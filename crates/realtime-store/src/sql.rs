//! Statements shared by both backends. sqlx binds `$N` placeholders on SQLite as on
//! Postgres, and both accept `ON CONFLICT … DO NOTHING` and `RETURNING`.

pub const BUMP_SEQ: &str =
    "UPDATE channels SET last_seq = last_seq + 1 WHERE name = $1 RETURNING id, last_seq";

pub const READ_COMMITTED: &str = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED";

pub const CREATE_CHANNEL: &str =
    "INSERT INTO channels (name, created_at_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

pub const FIND_BY_CLIENT_ID: &str = "SELECT seq, sender, body, client_msg_id, created_at_ms, \
     edited_at_ms, deleted_at_ms FROM messages \
     WHERE channel_id = $1 AND sender = $2 AND client_msg_id = $3";

pub const INSERT_MESSAGE: &str = "INSERT INTO messages \
     (channel_id, seq, sender, body, client_msg_id, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6)";

pub const CHANNEL_HEAD: &str = "SELECT c.last_seq, \
     (SELECT MIN(m.seq) FROM messages m WHERE m.channel_id = c.id) \
     FROM channels c WHERE c.name = $1";

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
