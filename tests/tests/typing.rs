//! Typing notices end to end: pushed to the channel's other subscribers, never to the typer
//! or to sockets elsewhere, coalesced when repeated, refused where the address may not post.

#![allow(clippy::unwrap_used)]

use e2e::{Options, Server, addr, message_push, next_push, quiet};
use realtime_client::{ErrorCode, Push};
use serde_json::json;

#[tokio::test]
async fn typing_reaches_the_other_subscribers_of_the_channel_only() {
    let server = Server::start().await;
    let mut typer = server.client(&addr(1)).await;
    let mut reader = server.client(&addr(2)).await;
    let mut elsewhere = server.client(&addr(3)).await;
    typer.subscribe("world", None).await.unwrap();
    reader.subscribe("world", None).await.unwrap();
    elsewhere.subscribe("trade", None).await.unwrap();

    let ok = typer
        .request("typing", json!({"channel": "world"}))
        .await
        .unwrap();
    assert_eq!(ok, json!({"channel": "world", "expires_in_ms": 5000}));
    let Push::Typing { channel, typing } = next_push(&mut reader).await else {
        panic!("expected a typing push")
    };
    assert_eq!(channel, "world");
    assert_eq!(
        typing.address,
        format!("0x{:0>64}", format!("{:x}", 0x1000 + 1))
    );
    assert_eq!(typing.expires_in_ms, 5000);
    quiet(&mut typer).await;
    quiet(&mut elsewhere).await;

    // Typing on: repeats within two seconds are answered but not pushed again.
    for _ in 0..3 {
        let ok = typer.typing("world").await.unwrap();
        assert_eq!(ok.expires_in_ms, 5000);
    }
    quiet(&mut reader).await;

    // Nothing was stored: the next message is seq 1, and it is the next push.
    let ack = typer.publish("world", "gm", "t1").await.unwrap();
    assert_eq!(ack.seq, 1);
    assert_eq!(message_push(next_push(&mut reader).await).1, 1);
}

#[tokio::test]
async fn typing_is_refused_where_the_address_may_not_post() {
    let server = Server::start_with(Options {
        toml: "[channels.news]\nread = \"authenticated\"\npost = \"admin\"\n".into(),
        env: vec![(
            "TORII_REALTIME__AUTH__ADMINS".into(),
            format!("[\"{}\"]", addr(9)),
        )],
        ..Options::default()
    })
    .await;
    let typer = server.client(&addr(1)).await;
    let mut reader = server.client(&addr(2)).await;
    reader.subscribe("news", None).await.unwrap();
    let e = typer
        .request("typing", json!({"channel": "news"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    let e = typer
        .request("typing", json!({"channel": "nowhere"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
    let e = typer
        .request("typing", json!({"channel": "news", "text": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest), "unknown arguments");
    quiet(&mut reader).await;
    // The socket is still up.
    typer.ping().await.unwrap();
}

#[tokio::test]
async fn a_typing_flood_is_rate_limited() {
    let server = Server::start().await;
    let typer = server.client(&addr(1)).await;
    let mut limited = None;
    // Each notice is on a fresh channel, so none is coalesced.
    for i in 0..40 {
        if let Err(e) = typer
            .request("typing", json!({"channel": format!("room:{i}")}))
            .await
        {
            limited = Some(e);
            break;
        }
    }
    let e = limited.expect("refused before 40 notices");
    assert_eq!(e.code(), Some(ErrorCode::RateLimited));
    typer.ping().await.unwrap();
}

/// In a direct-message thread the peer sees the notice; a notice repeated after the
/// coalescing window is pushed again, so the peer's 5 s expiry is refreshed while typing goes
/// on, and stops being refreshed when it stops.
#[tokio::test]
async fn typing_in_a_thread_refreshes_while_it_goes_on() {
    let server = Server::start().await;
    let typer = server.client(&addr(1)).await;
    let mut peer = server.client(&addr(2)).await;
    let dm = format!("dm:{}:{}", addr(1), addr(2));
    typer.publish(&dm, "hi", "t0").await.unwrap();
    assert_eq!(next_push(&mut peer).await.name(), "dm_started");
    peer.subscribe(&dm, None).await.unwrap();
    typer.typing(&dm).await.unwrap();
    let Push::Typing { channel, typing } = next_push(&mut peer).await else {
        panic!("a typing push")
    };
    assert_eq!(
        (channel.as_str(), typing.expires_in_ms),
        (dm.as_str(), 5000)
    );
    typer.typing(&dm).await.unwrap();
    quiet(&mut peer).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    typer.typing(&dm).await.unwrap();
    assert_eq!(next_push(&mut peer).await.name(), "typing");
    quiet(&mut peer).await;
}
