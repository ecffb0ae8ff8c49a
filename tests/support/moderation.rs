//! What the moderation tests share: a server with content rules and a moderator, and the
//! moderators' API called as that moderator.

use std::time::Duration;

use realtime_client::Push;
use serde_json::Value;

use crate::http::authed;
use crate::{Options, Server, addr};

/// The moderator of these tests (listed in `[moderation] moderators`).
pub fn moderator() -> String {
    addr(999)
}

pub const RULES: &str = r#"
[moderation]
moderators = ["0x13e7"]
reports_burst = 2
reports_per_hour = 1

[[moderation.rules]]
name = "rude"
words = ["heck"]
action = "mask"

[[moderation.rules]]
name = "scam"
words = ["airdrop"]
action = "hold"

[[moderation.rules]]
name = "links"
links = "deny"
allow_domains = ["realms.world"]
action = "reject"
message = "links to other sites are not allowed here"
"#;

pub async fn start() -> Server {
    Server::start_with(Options {
        toml: RULES.into(),
        ..Options::default()
    })
    .await
}

/// `POST path` with a moderator's token; the status and body.
pub async fn act(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let token = server.token(&moderator());
    let r = authed(server.addr, "POST", path, &token, Some(&body)).await;
    (r.status, r.json())
}

pub async fn look(server: &Server, path: &str) -> Value {
    let token = server.token(&moderator());
    let r = authed(server.addr, "GET", path, &token, None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.json());
    r.json()
}

pub fn other(p: Push) -> (String, Option<String>, Value) {
    match p {
        Push::Other {
            push,
            channel,
            data,
            ..
        } => (push, channel, data),
        p => panic!("expected another push, got {p:?}"),
    }
}

/// Waits for the pending jobs listed by the API to be `n`.
pub async fn pending_jobs(server: &Server, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let page = look(server, "/v1/moderation/jobs").await;
        let jobs = page["jobs"].as_array().unwrap().clone();
        if jobs.len() == n {
            return jobs;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never {n} pending jobs");
}
