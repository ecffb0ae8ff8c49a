//! The Rust SDK's `Session` against the real binary: it comes back after the server is
//! killed and restarted, delivering every message once and in order, including a publish
//! made while the server was down; it outlives short-lived tokens on one connection by
//! refreshing in band; and when a refresh fails, the expired session comes back with a fresh
//! token from its token source.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

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
async fn a_session_outlives_its_short_tokens_on_one_connection() {
    let server = Arc::new(Server::start().await);
    let minted = server.clone();
    // Every token lives 3 s (2 to 3 s, as `exp` is in whole seconds).
    let source: TokenSource = Arc::new(move || {
        let server = minted.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || server.token_with(&addr(1), &["--ttl", "3s"]))
                .await
                .map_err(|e| e.to_string())
        })
    });
    let started = Instant::now();
    let mut session = Session::start(SessionOptions {
        url: server.ws_url(),
        token: source,
        backoff: quick(),
    });
    assert!(matches!(
        next(&mut session).await,
        SessionEvent::Connected {
            reconnect: false,
            ..
        }
    ));
    let first = session.connection().await.unwrap();
    session.subscribe("world").await.unwrap();

    // Well past twice a token's lifetime: refreshed in band, never disconnected.
    let until = started + Duration::from_secs(7);
    let mut refreshed = Vec::new();
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match session.next_event_within(left).await {
            None => break,
            Some(SessionEvent::Refreshed { expires_at }) => refreshed.push(expires_at),
            Some(other) => panic!("only refreshes were expected, got {other:?}"),
        }
    }
    assert!(refreshed.len() >= 2, "{refreshed:?}");
    assert!(refreshed.windows(2).all(|w| w[0] < w[1]), "{refreshed:?}");
    assert!(Arc::ptr_eq(&first, &session.connection().await.unwrap()));

    // Still signed in on that connection, both ways.
    let mut other = server.client(&addr(2)).await;
    other.subscribe("world", None).await.unwrap();
    other.publish("world", "still there?", "o1").await.unwrap();
    assert_eq!(message(&mut session).await, (1, "still there?".into()));
    session.publish("world", "still here").await.unwrap();
    let got = e2e::messages(&mut other, 2).await;
    assert_eq!(got[1], ("world".into(), 2, "still here".into()));
    assert!(Arc::ptr_eq(&first, &session.connection().await.unwrap()));
}

/// The token source for a session whose refresh fails: the first call gives a token living
/// 4 s; calls made well before it expires (refreshes) get `bad`; later ones (the reconnect
/// after the 4402 close) a long-lived token. Returns the source and the count of refreshes.
fn failing_refreshes(
    server: &Server,
    bad: Result<String, String>,
) -> (TokenSource, Arc<AtomicU32>) {
    let short = server.token_with(&addr(1), &["--ttl", "4s"]);
    let exp = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&short)
        .unwrap()
        .claims["exp"]
        .as_i64()
        .unwrap();
    let long = server.token(&addr(1));
    let calls = Arc::new(AtomicU32::new(0));
    let refreshes = Arc::new(AtomicU32::new(0));
    let counted = refreshes.clone();
    let source: TokenSource = Arc::new(move || {
        let t = if calls.fetch_add(1, Ordering::Relaxed) == 0 {
            Ok(short.clone())
        } else if realtime_core::time::now_ms() < exp * 1000 - 300 {
            counted.fetch_add(1, Ordering::Relaxed);
            bad.clone()
        } else {
            Ok(long.clone())
        };
        Box::pin(async move { t })
    });
    (source, refreshes)
}

async fn an_expired_session_comes_back_after_a_failed_refresh(
    bad: fn(&Server) -> Result<String, String>,
) {
    let server = Server::start().await;
    let (source, refreshes) = failing_refreshes(&server, bad(&server));
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
    assert!(refreshes.load(Ordering::Relaxed) >= 1);
    let other = server.client(&addr(2)).await;
    other.publish("world", "still here", "s1").await.unwrap();
    assert_eq!(message(&mut session).await, (1, "still here".into()));
}

#[tokio::test]
async fn a_session_whose_token_source_fails_to_refresh_reconnects_at_expiry() {
    an_expired_session_comes_back_after_a_failed_refresh(|_| Err("the wallet is locked".into()))
        .await;
}

#[tokio::test]
async fn a_session_whose_refresh_is_refused_reconnects_at_expiry() {
    // A token for another address: the server answers `forbidden`.
    an_expired_session_comes_back_after_a_failed_refresh(|server| Ok(server.token(&addr(2)))).await;
}
