//! Read state end to end: marks are stored, so unread counts hold across reconnects and
//! devices; a mark reaches the address's other sockets and, in a thread, the other
//! participant as a read receipt; marks never move back or past the last message.

#![allow(clippy::unwrap_used)]

use e2e::{Server, addr, http, message_push, next_push, quiet};
use realtime_client::{ErrorCode, Push, ReadMark};
use serde_json::json;

fn full(n: u32) -> String {
    format!("0x{:0>64}", format!("{:x}", 0x1000 + n))
}

fn read_push(p: Push) -> (String, ReadMark) {
    match p {
        Push::Read { channel, read } => (channel, read),
        other => panic!("expected a read push, got {other:?}"),
    }
}

#[tokio::test]
async fn unread_holds_across_reconnects_and_devices_with_read_receipts() {
    let server = Server::start().await;
    let dm = format!("dm:{}:{}", addr(1), addr(2));
    let mut phone = server.client(&addr(1)).await;
    let mut laptop = server.client(&addr(1)).await;
    let mut b = server.client(&addr(2)).await;
    for i in 1..=3 {
        b.publish(&dm, &format!("m{i}"), &format!("b{i}"))
            .await
            .unwrap();
    }
    for socket in [&mut phone, &mut laptop, &mut b] {
        assert_eq!(next_push(socket).await.name(), "dm_started");
    }
    let unread = phone.unread().await.unwrap();
    assert_eq!(unread.channels.len(), 1);
    let u = &unread.channels[0];
    assert_eq!(
        (u.channel.as_str(), u.last_seq, u.read_seq, u.unread),
        (dm.as_str(), 3, 0, 3)
    );

    // The phone reads up to 2: the laptop hears it, and so does the sender (a receipt).
    let ok = phone.read(&dm, 2).await.unwrap();
    assert_eq!((ok.channel.as_str(), ok.seq), (dm.as_str(), 2));
    for socket in [&mut laptop, &mut b] {
        let (channel, mark) = read_push(next_push(socket).await);
        assert_eq!(
            (channel.as_str(), mark.address.as_str(), mark.seq),
            (dm.as_str(), full(1).as_str(), 2)
        );
    }
    quiet(&mut phone).await;

    // A new device (or a reconnect) sees the stored position.
    drop(laptop);
    let tablet = server.client(&addr(1)).await;
    let u = &tablet.unread().await.unwrap().channels[0];
    assert_eq!((u.read_seq, u.unread), (2, 1));
    // A late mark from a slower device does not move it back; one past the end stops there.
    assert_eq!(tablet.read(&dm, 1).await.unwrap().seq, 2);
    assert_eq!(tablet.read(&dm, 99).await.unwrap().seq, 3);
    let u = &phone.unread().await.unwrap().channels[0];
    assert_eq!((u.read_seq, u.unread), (3, 0));
    // The sender's own messages are never unread to it.
    assert_eq!(b.unread().await.unwrap().channels[0].unread, 0);

    // HTTP twins agree with the socket.
    let token = server.token(&addr(1));
    let r = http::authed(server.addr, "GET", "/v1/unread", &token, None).await;
    assert_eq!(
        r.json(),
        json!({"channels": [{"channel": dm, "last_seq": 3, "read_seq": 3, "unread": 0}]})
    );
    b.publish(&dm, "m4", "b4").await.unwrap();
    let path = format!("/v1/channels/{dm}/read");
    let r = http::authed(server.addr, "POST", &path, &token, Some(&json!({"seq": 4}))).await;
    assert_eq!(r.json(), json!({"channel": dm, "seq": 4}));
    let r = http::authed(
        server.addr,
        "POST",
        &path,
        &token,
        Some(&json!({"seq": -1})),
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn channel_reads_reach_only_the_readers_own_sockets() {
    let server = Server::start().await;
    let mut a1 = server.client(&addr(1)).await;
    let mut a2 = server.client(&addr(1)).await;
    let mut other = server.client(&addr(2)).await;
    other.subscribe("world", None).await.unwrap();
    for i in 0..5 {
        other
            .publish("world", "gm", &format!("w{i}"))
            .await
            .unwrap();
    }
    for _ in 0..5 {
        message_push(next_push(&mut other).await);
    }
    // A channel never read has no unread entry until it is read once.
    assert!(a1.unread().await.unwrap().channels.is_empty());
    a1.read("world", 3).await.unwrap();
    let (channel, mark) = read_push(next_push(&mut a2).await);
    assert_eq!((channel.as_str(), mark.seq), ("world", 3));
    quiet(&mut other).await;
    quiet(&mut a1).await;
    let u = &a2.unread().await.unwrap().channels[0];
    assert_eq!((u.channel.as_str(), u.read_seq, u.unread), ("world", 3, 2));

    let e = a1.read("news", 1).await;
    // No rules: every channel exists; reading one with no message stays at 0.
    assert_eq!(e.unwrap().seq, 0);
    let e = a1
        .request("read", json!({"channel": "world"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    let e = a1
        .request("read", json!({"channel": "Bad", "seq": 1}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidChannel));
}

/// A channel the address may no longer read (a guild left on chain) drops out of its unread
/// counts.
#[tokio::test]
async fn a_channel_lost_on_chain_leaves_the_unread_counts() {
    use e2e::blitz::{MEMBER, server_for, who, world};
    let torii = world().await;
    let server = server_for(&torii).await;
    let two = server.client(&who(2)).await;
    two.subscribe("guild:0x9001", None).await.unwrap();
    two.read("guild:0x9001", 0).await.unwrap();
    let listed =
        |u: realtime_client::UnreadList| u.channels.iter().any(|c| c.channel == "guild:0x9001");
    assert!(listed(two.unread().await.unwrap()));
    torii.delete(12, MEMBER);
    for _ in 0..100 {
        if !listed(two.unread().await.unwrap()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the guild channel is still counted after leaving the guild");
}
