//! Chat operations shared by the WebSocket session and the HTTP API: checking a publish and
//! turning its stored result into a reply and a publication (the commit itself is batched by
//! [`crate::publisher`]), and reading history. Transport code only decodes
//! requests and encodes these results.

use bytes::Bytes;
use realtime_bus::Publication;
use realtime_core::text::{self, TextError};
use realtime_core::time::rfc3339_ms;
use realtime_core::{ChannelName, ErrorCode};
use realtime_protocol::reply::{HistoryPage, MessageData, PublishOk, encode_message_push};
use realtime_protocol::{ErrorBody, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT};
use realtime_store::{HistoryQuery, Published, Store, StoreError};

use crate::config::LimitsConfig;

/// Maps a storage failure to what the client is told; internal details stay in the log.
pub fn store_error(e: &StoreError) -> ErrorBody {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "storage unavailable");
        ErrorBody::new(
            ErrorCode::Unavailable,
            "storage is unavailable; retry shortly",
        )
    } else {
        tracing::error!(error = %e, "storage failure");
        ErrorBody::new(ErrorCode::Internal, "internal error")
    }
}

/// Checks a body against the configured limits and returns the text to store.
pub fn validate_body(limits: &LimitsConfig, body: &str) -> Result<String, ErrorBody> {
    let limits = text::TextLimits {
        max_chars: limits.max_message_chars,
    };
    text::validate_body(body, limits).map_err(|e| {
        let code = match e {
            TextError::Empty => ErrorCode::EmptyMessage,
            TextError::TooLong { .. } => ErrorCode::MessageTooLong,
            TextError::ControlCharacter(_) => ErrorCode::InvalidText,
        };
        ErrorBody::new(code, e.to_string())
    })
}

/// Checks a client message id before the publish is queued.
pub fn validate_client_msg_id(client_msg_id: &str) -> Result<(), ErrorBody> {
    text::validate_client_msg_id(client_msg_id)
        .map_err(|e| ErrorBody::new(ErrorCode::BadRequest, e.to_string()))
}

/// What a stored publish means for its sender (the reply) and its subscribers (the
/// publication to announce). A client message id reused for another body is a conflict.
pub fn outcome(
    body: &str,
    client_msg_id: &str,
    published: Published,
) -> Result<(PublishOk, Publication), ErrorBody> {
    let m = &published.message;
    if published.duplicate && m.body != body {
        return Err(ErrorBody::new(
            ErrorCode::Conflict,
            format!(
                "client_msg_id {client_msg_id:?} was already used for another message (seq {})",
                m.seq
            ),
        ));
    }
    // Duplicates are announced too: if the first attempt committed but its announcement was
    // lost (the commit reported an error), the retry delivers it; hubs drop seqs they have
    // already delivered.
    let publication = Publication {
        channel: std::sync::Arc::from(m.channel.as_str()),
        seq: m.seq,
        frame: Bytes::from(encode_message_push(m)),
    };
    let ok = PublishOk {
        channel: m.channel.to_string(),
        seq: m.seq,
        ts: rfc3339_ms(m.created_at_ms),
        duplicate: published.duplicate,
        held: false,
    };
    Ok((ok, publication))
}

/// Bytes of a reply around its messages (envelope, channel name, flags), for page budgets.
const PAGE_OVERHEAD: usize = 1024;

/// Keeps the messages of a page (ascending by seq) that fit in `budget` bytes of JSON: the
/// ones nearest the cursor, so the client pages on from the last one it got. At least one
/// message is kept (config guarantees one message fits a send queue). Returns whether some
/// were cut.
fn fit(messages: &mut Vec<MessageData>, budget: usize, ascending: bool) -> bool {
    let size = |m: &MessageData| serde_json::to_vec(m).map_or(0, |v| v.len() + 1);
    let mut used = PAGE_OVERHEAD;
    let mut keep = 0;
    let order: Box<dyn Iterator<Item = &MessageData>> = if ascending {
        Box::new(messages.iter())
    } else {
        Box::new(messages.iter().rev())
    };
    for m in order {
        used += size(m);
        if keep > 0 && used > budget {
            break;
        }
        keep += 1;
    }
    if keep == messages.len() {
        return false;
    }
    if ascending {
        messages.truncate(keep);
    } else {
        messages.drain(..messages.len() - keep);
    }
    true
}

/// A page of history (see `HistoryQuery`); `limit` defaults to 50, at most 100. A page is cut
/// to fit the send queue (`limits.send_queue_bytes`), with `has_more` set, so a reply never
/// takes a connection over its budget: the client pages on from the page's edge. `expired`
/// tells the client that messages it asked for were removed by retention, so it stops
/// paging rather than taking the end of the stored log for the start of the channel.
pub async fn history(
    store: &Store,
    limits: &LimitsConfig,
    channel: &ChannelName,
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<u32>,
) -> Result<HistoryPage, ErrorBody> {
    let limit = limit.unwrap_or(HISTORY_DEFAULT_LIMIT);
    if limit == 0 || limit > HISTORY_MAX_LIMIT {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!("limit must be between 1 and {HISTORY_MAX_LIMIT}"),
        ));
    }
    let page = crate::metrics::timed(
        crate::metrics::StorageOp::Read,
        store.history(
            channel,
            HistoryQuery {
                before,
                after,
                limit,
            },
        ),
    )
    .await
    .map_err(|e| store_error(&e))?;
    let mut messages: Vec<MessageData> = page
        .messages
        .iter()
        .map(|m| MessageData::from_message(m, true))
        .collect();
    // Half the queue: the reply must not crowd out live pushes arriving meanwhile.
    let cut = fit(&mut messages, limits.send_queue_bytes / 2, after.is_some());
    // Paging backwards, a cut drops the oldest messages: the page no longer reaches the trim
    // point, and the page after it will say so. Paging forwards, it drops the newest, and
    // what is missing before the page stays missing.
    let expired = page.expired && !(cut && after.is_none());
    Ok(HistoryPage {
        channel: channel.to_string(),
        messages,
        has_more: page.has_more || cut,
        expired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64, chars: usize) -> MessageData {
        MessageData {
            seq: Some(seq),
            sender: "0x1".into(),
            body: "🦀".repeat(chars),
            ts: "2026-01-01T00:00:00.000Z".into(),
            client_msg_id: Some(format!("m{seq}")),
            edited_at: None,
            deleted: false,
        }
    }

    #[test]
    fn pages_are_cut_to_the_budget_on_the_far_side_of_the_cursor() {
        let page: Vec<MessageData> = (1..=10).map(|s| message(s, 500)).collect();
        // Newest first (`before` or no cursor): the newest are kept.
        let mut newest = page.clone();
        assert!(fit(&mut newest, 8_000, false));
        let seqs: Vec<u64> = newest.iter().filter_map(|m| m.seq).collect();
        assert_eq!(seqs, [8, 9, 10]);
        // After a cursor: the oldest after it are kept.
        let mut oldest = page.clone();
        assert!(fit(&mut oldest, 8_000, true));
        let seqs: Vec<u64> = oldest.iter().filter_map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        // Within budget: untouched; never empty.
        let mut all = page.clone();
        assert!(!fit(&mut all, 1 << 20, false));
        assert_eq!(all.len(), 10);
        let mut one = page;
        assert!(fit(&mut one, 10, false));
        assert_eq!(one.len(), 1);
    }
}
