//! Joining a room on either server, and the frames the scenarios send and read.
//!
//! torii-realtime: sign in with a development token minted here (the server runs with the
//! benchmark secret), then `subscribe`. The peer: connect to `/ws/ROOM`, which joins the room.
//! Message bodies carry their send time (`@` and 16 digits of microseconds since the epoch) so
//! every delivery yields a publish→deliver latency on either server.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::servers::{Kind, SECRET, Target};
use crate::ws::{self, Reader, Writer};

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A message body stamped with the current time.
pub fn stamped_body() -> String {
    format!("@{:016}", now_micros())
}

/// The send time stamped in a frame, if it carries one.
pub fn stamp(frame: &[u8]) -> Option<u64> {
    let at = frame.iter().position(|b| *b == b'@')? + 1;
    let digits = frame.get(at..at + 16)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iss: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
    /// The world a server following Torii binds its tokens to.
    #[serde(skip_serializing_if = "Option::is_none")]
    world: Option<String>,
    dev: bool,
}

/// A development token for the `n`th benchmark address.
pub fn token(n: u64) -> String {
    token_in(n, None)
}

/// A development token for the `n`th benchmark address, bound to `world` (the canonical
/// world address) when the server follows one.
pub fn token_in(n: u64, world: Option<String>) -> String {
    let now = now_micros() / 1_000_000;
    let address = format!("0x{:x}", n + 1);
    let claims = Claims {
        sub: &address,
        iss: "torii-realtime",
        iat: now,
        exp: now + 3600,
        jti: format!("bench-{n}"),
        world,
        dev: true,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap_or_default()
}

/// Room `i` of a scenario run; `run` keeps names unique across runs on one database.
pub fn room(run: &str, i: usize) -> String {
    format!("bench-{run}-{i}")
}

/// Connects client `n` to `room`, subscribed (recovering after `since` when given). Returns
/// once the server has confirmed the subscription.
pub async fn join(
    server: Target,
    n: u64,
    room: &str,
    since: Option<u64>,
) -> io::Result<(Reader, Writer)> {
    match server.kind {
        Kind::Peer => ws::connect(server.addr, &format!("/ws/{room}"), None).await,
        Kind::Realtime => {
            let (mut reader, mut writer) =
                ws::connect(server.addr, "/v1/ws", Some(&token(n))).await?;
            reader
                .until(|f| ws::find(f, br#""push":"connected""#).map(|_| ()))
                .await?;
            let since = since.map(|s| format!(",\"since\":{s}")).unwrap_or_default();
            let request = format!(r#"{{"id":1,"op":"subscribe","channel":"{room}"{since}}}"#);
            writer.text(request.as_bytes()).await?;
            let reply = reader
                .until(|f| f.starts_with(br#"{"id":1,"#).then(|| f.to_vec()))
                .await?;
            if ws::find(&reply, br#""ok":"#).is_none() {
                return Err(io::Error::other(format!(
                    "subscribe refused: {}",
                    String::from_utf8_lossy(&reply)
                )));
            }
            Ok((reader, writer))
        }
    }
}

/// Connects `count` clients with at most `parallel` handshakes at a time.
pub async fn join_many(
    server: Target,
    first: u64,
    count: usize,
    parallel: usize,
    room_of: impl Fn(usize) -> String,
    since: Option<u64>,
) -> io::Result<Vec<(Reader, Writer)>> {
    let mut out = Vec::with_capacity(count);
    let mut i = 0;
    while i < count {
        let batch = parallel.min(count - i);
        let mut set = tokio::task::JoinSet::new();
        for k in i..i + batch {
            let room = room_of(k);
            set.spawn(async move {
                let joined = tokio::time::timeout(
                    Duration::from_secs(30),
                    join(server, first + k as u64, &room, since),
                )
                .await
                .map_err(|_| io::Error::other("join timed out"))?;
                joined.map(|c| (k, c))
            });
        }
        let mut joined: Vec<(usize, (Reader, Writer))> = Vec::with_capacity(batch);
        while let Some(r) = set.join_next().await {
            joined.push(r.map_err(io::Error::other)??);
        }
        joined.sort_by_key(|(k, _)| *k);
        out.extend(joined.into_iter().map(|(_, c)| c));
        i += batch;
    }
    Ok(out)
}

/// A publish request of torii-realtime with a stamped body.
pub fn publish_frame(id: u64, room: &str, client: u64) -> String {
    format!(
        r#"{{"id":{id},"op":"publish","channel":"{room}","body":"{}","client_msg_id":"c{client}-{id}"}}"#,
        stamped_body()
    )
}
