//! The Rust SDK's `Session` against the real binary: it comes back after the server is
//! killed and restarted, delivering every message once and in order, including a publish
//! made while the server was down; and an expired token is replaced from its token source.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use e2e::{Options, Server, addr};
use realtime_client::{
    Backoff, Push, Session, SessionEvent, SessionOptions, TokenSource, fixed_token,
};

fn quick() -> Backoff {
    Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_millis(500),
    }
}

async fn next(session: &mut Session) -> SessionEvent {
    session
        .next_event_within(Duration::from_secs(10))
        .await
        .expect("a session event within 10 s")
}

/// The next message push, skipping other events; returns (seq, body).
async fn message(session: &mut Session) -> (u64, String) {
    loop {
        if let SessionEvent::Push(Push::Message { seq, message, .. }) = next(session).await {
            return (seq, message.body);
        }
    }
}

#[tokio::test]
async fn a_session_comes_back_after_a_restart_without_losing_or_repeating() {
    let server = Server::start().await;
    let port = server.addr.port();
    let mut session = Session::start(SessionOptions {
        url: server.ws_url(),
        token: fixed_token(server.token(&addr(1))),
        backoff: quick(),
    });
    assert!(matches!(
        next(&mut session).await,
        SessionEvent::Connected {
            reconnect: false,
            ..
        }
    ));
    session.subscribe("world").await.unwrap();
    let other = server.client(&addr(2)).await;
    for i in 1..=2 {
        other
            .publish("world", &format!("m{i}"), &format!("o{i}"))
            .await
            .unwrap();
    }
    assert_eq!(message(&mut session).await, (1, "m1".into()));
    assert_eq!(message(&mut session).await, (2, "m2".into()));

    // Killed hard; a publish is made while it is down, then it comes back on the same port.
    drop(other);
    let dir = server.keep_dir();
    assert!(matches!(
        next(&mut session).await,
        SessionEvent::Disconnected { .. }
    ));
    let handle = session.handle();
    let queued = tokio::spawn(async move { handle.publish("world", "sent while down").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let server = Server::start_with(Options {
        dir: Some(dir),
        env: vec![(
            "TORII_REALTIME__SERVER__LISTEN".into(),
            format!("127.0.0.1:{port}"),
        )],
        ..Options::default()
    })
    .await;
    let other = server.client(&addr(2)).await;
    other.publish("world", "m3", "o3").await.unwrap();
    let stored = queued.await.unwrap().unwrap();

    let mut got = [message(&mut session).await, message(&mut session).await];
    got.sort();
    assert_eq!(got.iter().map(|m| m.0).collect::<Vec<_>>(), vec![3, 4]);
    let mut bodies: Vec<&str> = got.iter().map(|m| m.1.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, vec!["m3", "sent while down"]);
    assert!(stored.seq == 3 || stored.seq == 4);
    // Nothing twice.
    other.publish("world", "m5", "o5").await.unwrap();
    assert_eq!(message(&mut session).await, (5, "m5".into()));
}

#[tokio::test]
async fn an_expired_session_comes_back_with_a_fresh_token() {
    let server = Server::start().await;
    let short = server.token_with(&addr(1), &["--ttl", "2s"]);
    let long = server.token(&addr(1));
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let source: TokenSource = Arc::new(move || {
        let t = if counted.fetch_add(1, Ordering::Relaxed) == 0 {
            short.clone()
        } else {
            long.clone()
        };
        Box::pin(async move { Ok(t) })
    });
    let mut session = Session::start(SessionOptions {
        url: server.ws_url(),
        token: source,
        backoff: quick(),
    });
    assert!(matches!(
        next(&mut session).await,
        SessionEvent::Connected { .. }
    ));
    session.subscribe("world").await.unwrap();
    loop {
        match next(&mut session).await {
            SessionEvent::Disconnected { code, .. } => {
                assert_eq!(code, Some(4402));
                break;
            }
            SessionEvent::Push(_) => continue,
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        next(&mut session).await,
        SessionEvent::Connected {
            reconnect: true,
            ..
        }
    ));
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    let other = server.client(&addr(2)).await;
    other.publish("world", "still here", "s1").await.unwrap();
    assert_eq!(message(&mut session).await, (1, "still here".into()));
}
