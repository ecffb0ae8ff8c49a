//! Each kind of bad input gets its documented answer, and the connection (and server) stay
//! up where the protocol allows.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{Options, Server, addr, close_code, http, next_event, next_push};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use realtime_client::{Auth, Client, ErrorBody, ErrorCode, Event};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn error_event(c: &mut Client) -> ErrorBody {
    match next_event(c).await {
        Event::Error(e) => e,
        other => panic!("expected an error without id, got {other:?}"),
    }
}

async fn still_works(c: &Client) {
    c.request("ping", json!({}))
        .await
        .expect("the connection still works");
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_connection_stays() {
    let server = Server::start().await;
    let mut c = server.client(&addr(1)).await;
    c.send_raw("{not json".into()).await.unwrap();
    let e = error_event(&mut c).await;
    assert_eq!(e.code, ErrorCode::BadRequest);
    c.send_raw(r#"{"op":"ping"}"#.into()).await.unwrap();
    assert_eq!(error_event(&mut c).await.code, ErrorCode::BadRequest);
    c.send_message(Message::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    assert_eq!(error_event(&mut c).await.code, ErrorCode::BadRequest);
    still_works(&c).await;

    let e = c.request("dance", json!({})).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnknownOp));
    let e = c
        .request("publish", json!({"channel": "world"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    let e = c
        .request("subscribe", json!({"channel": "world", "sinse": 4}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
    let e = c.subscribe("Not A Channel", None).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidChannel));
    still_works(&c).await;
}

#[tokio::test]
async fn oversize_frames_are_refused_and_huge_ones_close() {
    let server = Server::start_with(Options {
        limits: "max_frame_bytes = 4096\n".into(),
        ..Options::default()
    })
    .await;
    let mut c = server.client(&addr(1)).await;
    let big = format!(
        r#"{{"id":1,"op":"publish","channel":"world","body":"{}","client_msg_id":"x"}}"#,
        "a".repeat(5000)
    );
    c.send_raw(big).await.unwrap();
    assert_eq!(error_event(&mut c).await.code, ErrorCode::TooLarge);
    still_works(&c).await;
    // Past the transport limit (1 MiB here) the socket is closed with 1009 as soon as the
    // frame header is read: the frame is never buffered. The client is still writing it
    // then; the server drains what it sends before closing the socket, so the close frame
    // arrives instead of a reset.
    let _ = c.send_raw("a".repeat(2 << 20)).await;
    assert_eq!(close_code(&mut c).await, Some(1009));
    server
        .wait_for_log(Duration::from_secs(5), |l| {
            l["message"] == "disconnected" && l["close"] == 1009
        })
        .await;
    let r = http::get(server.addr, "/healthz", &[]).await;
    assert_eq!(r.status, 200, "the server is still up");
}

#[tokio::test]
async fn message_bodies_are_checked() {
    let server = Server::start_with(Options {
        limits: "max_message_chars = 10\n".into(),
        ..Options::default()
    })
    .await;
    let c = server.client(&addr(1)).await;
    let code =
        |r: Result<realtime_client::PublishOk, realtime_client::ClientError>| r.unwrap_err().code();
    assert_eq!(
        code(c.publish("world", "eleven char", "a").await),
        Some(ErrorCode::MessageTooLong)
    );
    assert_eq!(
        code(c.publish("world", "  \n ", "b").await),
        Some(ErrorCode::EmptyMessage)
    );
    assert_eq!(
        code(c.publish("world", "bell\u{7}", "c").await),
        Some(ErrorCode::InvalidText)
    );
    assert_eq!(
        code(c.publish("world", "ok", "has space").await),
        Some(ErrorCode::BadRequest)
    );
    // Ten characters, counted after normalisation, even as 40 bytes of emoji.
    let ok = c
        .publish("world", "🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀", "d")
        .await
        .unwrap();
    assert_eq!(ok.seq, 1, "refused messages consumed no seq");
    let ok = c.publish("world", "e\u{301}", "e").await.unwrap();
    let page = c
        .history(
            "world",
            realtime_client::History {
                after: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.messages[0].body, "\u{e9}", "stored as NFC");
    assert_eq!(ok.seq, 2);
}

#[tokio::test]
async fn subscription_limits_and_states() {
    let server = Server::start_with(Options {
        limits: "max_subscriptions = 2\n".into(),
        ..Options::default()
    })
    .await;
    let c = server.client(&addr(1)).await;
    c.subscribe("a", None).await.unwrap();
    let e = c.subscribe("a", None).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::AlreadySubscribed));
    c.subscribe("b", None).await.unwrap();
    let e = c.subscribe("c", None).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::TooManySubscriptions));
    let e = c.unsubscribe("c").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotSubscribed));
    c.unsubscribe("a").await.unwrap();
    c.subscribe("c", None).await.unwrap();
}

#[tokio::test]
async fn publishing_too_fast_is_rate_limited_with_a_retry_hint() {
    let server = Server::start_with(Options {
        limits: "publish_burst = 3\npublish_per_second = 2.0\n".into(),
        ..Options::default()
    })
    .await;
    let c = server.client(&addr(1)).await;
    for i in 0..3 {
        c.publish("world", "hi", &format!("r{i}")).await.unwrap();
    }
    let err = c.publish("world", "hi", "r3").await.unwrap_err();
    let realtime_client::ClientError::Server(body) = err else {
        panic!("{err:?}")
    };
    assert_eq!(body.code, ErrorCode::RateLimited);
    let wait = body.retry_after_ms.expect("retry_after_ms");
    assert!(wait > 0 && wait <= 500, "{wait}");
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    c.publish("world", "hi", "r3").await.unwrap();
}

#[tokio::test]
async fn requests_before_signing_in_are_refused_until_auth() {
    let server = Server::start().await;
    let mut c = Client::connect(&server.ws_url(), Auth::None).await.unwrap();
    let e = c.subscribe("world", None).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
    let e = c.auth("garbage").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
    c.auth(&server.token(&addr(1))).await.unwrap();
    assert_eq!(next_push(&mut c).await.name(), "connected");
    c.subscribe("world", None).await.unwrap();
    let e = c.auth(&server.token(&addr(1))).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::BadRequest));
}

#[tokio::test]
async fn a_socket_that_never_signs_in_is_closed() {
    let server = Server::start_with(Options {
        server: "auth_timeout = \"500ms\"\n".into(),
        ..Options::default()
    })
    .await;
    let mut c = Client::connect(&server.ws_url(), Auth::None).await.unwrap();
    assert_eq!(close_code(&mut c).await, Some(4401));
}

fn forge(secret: &[u8], claims: Value, alg: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn bad_tokens_at_connect_close_with_act_first_codes() {
    let server = Server::start().await;
    let secret = server.secret();
    let sub = format!("0x{:0>64}", "1");
    let cases = [
        ("garbage", "not-a-jwt".to_owned(), 4401),
        (
            "expired",
            forge(
                &secret,
                json!({"sub": sub, "iss": "torii-realtime", "iat": now() - 100, "exp": now() - 10, "jti": "x", "dev": true}),
                Algorithm::HS256,
            ),
            4402,
        ),
        (
            "other secret",
            forge(
                b"some other secret that is long enough",
                json!({"sub": sub, "iss": "torii-realtime", "exp": now() + 100, "dev": true}),
                Algorithm::HS256,
            ),
            4401,
        ),
        (
            "other issuer",
            forge(
                &secret,
                json!({"sub": sub, "iss": "someone-else", "exp": now() + 100, "dev": true}),
                Algorithm::HS256,
            ),
            4401,
        ),
        (
            "other algorithm",
            forge(
                &secret,
                json!({"sub": sub, "iss": "torii-realtime", "exp": now() + 100, "dev": true}),
                Algorithm::HS512,
            ),
            4401,
        ),
        (
            "bad subject",
            forge(
                &secret,
                json!({"sub": "alice", "iss": "torii-realtime", "exp": now() + 100, "dev": true}),
                Algorithm::HS256,
            ),
            4401,
        ),
    ];
    for (name, token, code) in cases {
        let mut c = Client::connect(&server.ws_url(), Auth::Header(token))
            .await
            .unwrap();
        assert_eq!(close_code(&mut c).await, Some(code), "{name}");
    }
    // `alg: none`: an unsigned token.
    let b64 = |v: Value| {
        use std::fmt::Write;
        let bytes = v.to_string().into_bytes();
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                let _ = out.write_char(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    };
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(json!({"sub": sub, "iss": "torii-realtime", "exp": now() + 100, "dev": true}))
    );
    let mut c = Client::connect(&server.ws_url(), Auth::Header(unsigned))
        .await
        .unwrap();
    assert_eq!(close_code(&mut c).await, Some(4401), "alg none");
    // A tampered payload with the original signature.
    let good = server.token(&addr(1));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let mut c = Client::connect(&server.ws_url(), Auth::Query(parts.join(".")))
        .await
        .unwrap();
    assert_eq!(close_code(&mut c).await, Some(4401), "tampered");
    // The server is fine.
    let ok = server.client(&addr(1)).await;
    ok.request("ping", json!({})).await.unwrap();
}

#[tokio::test]
async fn connections_per_address_are_limited() {
    let server = Server::start_with(Options {
        limits: "max_connections_per_address = 2\n".into(),
        ..Options::default()
    })
    .await;
    let a = server.client(&addr(1)).await;
    let _b = server.client(&addr(1)).await;
    let token = server.token(&addr(1));
    let mut third = Client::connect(&server.ws_url(), Auth::Header(token.clone()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut third).await, Some(4429));
    // Through the auth op: an error reply, then the close.
    let mut fourth = Client::connect(&server.ws_url(), Auth::None).await.unwrap();
    let e = fourth.auth(&token).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::TooManyConnections));
    assert_eq!(close_code(&mut fourth).await, Some(4429));
    // Another address is unaffected; a closed connection frees its slot.
    server.client(&addr(2)).await;
    a.close().await.unwrap();
    drop(a);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Client::connect(&server.ws_url(), Auth::Header(token.clone()))
            .await
            .unwrap();
        if let Event::Push(p) = next_event(&mut c).await {
            assert_eq!(p.name(), "connected");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_unsupported_protocol_version_is_refused() {
    let server = Server::start().await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = server.ws_url().into_client_request().unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "realtime.v9".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    use futures_util::StreamExt;
    let code = loop {
        match ws.next().await {
            Some(Ok(Message::Close(f))) => break f.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            _ => break None,
        }
    };
    assert_eq!(code, Some(4426));
}

/// A token whose `exp` second began 0.3 s ago: a whole-second comparison still takes it, the
/// server does not, at connect nor in an `auth` op.
#[tokio::test]
async fn a_token_a_fraction_of_a_second_past_expiry_is_refused() {
    let server = Server::start().await;
    let secret = server.secret();
    let sub = format!("0x{:0>64}", "1");
    for attempt in 0..3 {
        let ms = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        };
        while !(300..450).contains(&(ms() % 1000)) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let second = now();
        let token = forge(
            &secret,
            json!({"sub": sub, "iss": "torii-realtime", "iat": second - 60, "exp": second, "jti": "x", "dev": true}),
            Algorithm::HS256,
        );
        let mut at_connect = Client::connect(&server.ws_url(), Auth::Header(token.clone()))
            .await
            .unwrap();
        let by_op = Client::connect(&server.ws_url(), Auth::None).await.unwrap();
        let refused = by_op.request("auth", json!({ "token": token })).await;
        if now() != second {
            continue; // Too slow to test within the second; try again.
        }
        assert_eq!(
            close_code(&mut at_connect).await,
            Some(4402),
            "attempt {attempt}"
        );
        assert_eq!(
            refused.unwrap_err().code(),
            Some(ErrorCode::TokenExpired),
            "attempt {attempt}"
        );
        return;
    }
    panic!("could not connect within one second three times");
}

/// Writes one client frame by hand: `first` is the FIN/RSV/opcode byte; masked unless told.
async fn raw_frame(ws: &mut e2e::raw::RawSocket, first: u8, payload: &[u8], masked: bool) {
    use tokio::io::AsyncWriteExt;
    let mut frame = vec![first];
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let len = u8::try_from(payload.len()).unwrap();
    if masked {
        frame.push(0x80 | len);
        frame.extend(mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        frame.push(len);
        frame.extend(payload);
    }
    ws.get_mut().write_all(&frame).await.unwrap();
}

/// Violations of the WebSocket protocol itself close with the RFC 6455 codes, the close frame
/// arrives, and the server goes on serving others.
#[tokio::test]
async fn websocket_protocol_violations_close_with_rfc_6455_codes() {
    let server = Server::start().await;
    let url = format!("{}?token={}", server.ws_url(), server.token(&addr(1)));
    let cases: [(&str, u8, &[u8], bool, u16); 4] = [
        (
            "invalid UTF-8 in a text frame",
            0x81,
            &[0x61, 0xff, 0xfe],
            true,
            1007,
        ),
        ("a reserved bit set", 0xC1, b"a", true, 1002),
        ("an unmasked client frame", 0x81, b"a", false, 1002),
        ("an unknown opcode", 0x83, b"a", true, 1002),
    ];
    for (name, first, payload, masked, code) in cases {
        let mut ws = e2e::raw::connect_small_buffer(server.addr, &url).await;
        raw_frame(&mut ws, first, payload, masked).await;
        let (got, _) = e2e::raw::read_to_close(&mut ws, Duration::from_secs(5)).await;
        assert_eq!(got, Some(code), "{name}");
    }
    let c = server.client(&addr(2)).await;
    still_works(&c).await;
}
