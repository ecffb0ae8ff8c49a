//! Per-channel limits: a channel's own publish rate and slow mode per address, and the cap
//! on new direct-message threads per hour; refusals say when to retry.

#![allow(clippy::unwrap_used)]

use e2e::{Options, Server, addr};
use realtime_client::{ClientError, ErrorCode};

async fn start(toml: &str) -> Server {
    Server::start_with(Options {
        toml: toml.into(),
        ..Options::default()
    })
    .await
}

fn refusal(e: ClientError) -> realtime_client::ErrorBody {
    match e {
        ClientError::Server(b) => b,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test]
async fn slow_mode_allows_one_message_per_period_per_address_and_spares_moderators() {
    let server = start(
        r#"
[moderation]
moderators = ["0x13e7"]

[limits.channels.world]
slow_mode = "30s"
"#,
    )
    .await;
    let a = server.client(&addr(1)).await;
    a.publish("world", "first", "1").await.unwrap();
    let e = refusal(a.publish("world", "second", "2").await.unwrap_err());
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(e.message.contains("slow mode"), "{}", e.message);
    let wait = e.retry_after_ms.unwrap();
    assert!((29_000..=30_000).contains(&wait), "{wait}");
    // Another channel, and another address, are not held back.
    a.publish("trade", "elsewhere", "3").await.unwrap();
    let b = server.client(&addr(2)).await;
    b.publish("world", "me too", "4").await.unwrap();
    // A moderator is not slowed.
    let m = server.client(&addr(999)).await;
    m.publish("world", "announcement", "5").await.unwrap();
    m.publish("world", "and another", "6").await.unwrap();
}

#[tokio::test]
async fn a_channel_kind_can_have_its_own_publish_rate() {
    let server = start(
        r#"
[limits.channels.trade]
publish_burst = 2
publish_per_second = 0.1
"#,
    )
    .await;
    let a = server.client(&addr(1)).await;
    a.publish("trade:wood", "1", "1").await.unwrap();
    a.publish("trade:wood", "2", "2").await.unwrap();
    let e = refusal(a.publish("trade:wood", "3", "3").await.unwrap_err());
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(e.retry_after_ms.unwrap() > 5_000);
    // Per channel of the kind, and the rest of the server is free.
    a.publish("trade:stone", "1", "4").await.unwrap();
    a.publish("world", "free", "5").await.unwrap();
}

#[tokio::test]
async fn new_direct_message_threads_are_capped_per_hour() {
    let server = start("[dm]\nmax_new_threads_per_hour = 2\n").await;
    let spammer = server.client(&addr(1)).await;
    let thread = |peer: u32| {
        let (a, b) = (0x1001, 0x1000 + peer);
        format!("dm:0x{:x}:0x{:x}", a.min(b), a.max(b))
    };
    spammer.publish(&thread(2), "hi", "1").await.unwrap();
    spammer.publish(&thread(3), "hi", "2").await.unwrap();
    let e = refusal(spammer.publish(&thread(4), "hi", "3").await.unwrap_err());
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(e.message.contains("new threads"), "{}", e.message);
    // Threads already started go on.
    spammer.publish(&thread(2), "again", "4").await.unwrap();
}

#[tokio::test]
async fn channel_limits_that_cannot_work_stop_the_server_at_start() {
    let dir = std::env::temp_dir().join(e2e::unique("limits_config"));
    std::fs::create_dir_all(&dir).unwrap();
    for (toml, key) in [
        (
            "[limits.channels.world]\npublish_burst = 2\n",
            "limits.channels.world.publish_per_second",
        ),
        (
            "[limits.channels.world]\nslow_mode = \"10ms\"\n",
            "limits.channels.world.slow_mode",
        ),
        (
            "[dm]\nmax_new_threads_per_hour = 0\n",
            "dm.max_new_threads_per_hour",
        ),
    ] {
        let file = dir.join("bad.toml");
        std::fs::write(&file, toml).unwrap();
        let out = std::process::Command::new(e2e::binary())
            .args(["config", "check"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{toml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{toml}: {err}");
    }
    std::fs::remove_dir_all(dir).ok();
}
