//! `/metrics` end to end: every metric `docs/operations.md` documents is served (and nothing
//! undocumented), what players do shows in the counters, labels stay bounded, and
//! `[metrics] listen` moves the endpoint to an address of its own.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use e2e::blitz::{server_for, who, world};
use e2e::metrics::{documented, scrape, scrape_at};
use e2e::{Options, Server, addr, http, messages, next_event, quiet};
use realtime_client::{Auth, Client, ErrorCode};
use serde_json::json;

/// Polls `/metrics` until `check` holds (counters of other tasks land a moment later).
async fn eventually(server: &Server, what: &str, check: impl Fn(&e2e::metrics::Scrape) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = scrape(server.addr).await;
        if check(&s) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {:#?}",
            s.samples
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn every_documented_metric_is_served_and_every_served_one_is_documented() {
    // With Torii configured, so the follower's metrics are there too.
    let torii = world().await;
    let server = server_for(&torii).await;
    let scraped = scrape(server.addr).await;
    let served: BTreeSet<String> = scraped
        .families
        .keys()
        .filter(|n| n.starts_with("realtime_") || n.starts_with("process_"))
        .cloned()
        .collect();
    let documented = documented();
    assert!(documented.len() >= 35, "{documented:?}");
    let missing: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "documented, not served: {missing:?}");
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served, not documented in docs/operations.md: {undocumented:?}"
    );
    // Every labelled series exists before anything happened, at 0.
    for (labels, name) in [
        (
            &[("code", "rate_limited"), ("transport", "ws")][..],
            "realtime_refusals_total",
        ),
        (
            &[("reason", "slow_consumer")],
            "realtime_connections_closed_total",
        ),
        (&[("op", "publish")], "realtime_redis_errors_total"),
    ] {
        assert!(scraped.has(name, labels), "{name} {labels:?}");
    }
    assert_eq!(scraped.value("realtime_torii_synced", &[]), 1.0);
    assert_eq!(scraped.value("realtime_torii_live", &[]), 1.0);
    assert!(scraped.value("realtime_torii_entities", &[]) > 0.0);
    assert!(scraped.value("process_resident_memory_bytes", &[]) > 1e6);
    assert_eq!(
        scraped.value(
            "realtime_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    // A player's traffic adds series values, never series: labels hold no address or channel.
    let mut one = server.client(&who(1)).await;
    let two = server.client(&who(2)).await;
    one.subscribe("guild:0x9001", None).await.unwrap();
    two.publish("guild:0x9001", "gm", "m1").await.unwrap();
    messages(&mut one, 1).await;
    let after = scrape(server.addr).await;
    let before_keys: BTreeSet<_> = scraped.samples.keys().collect();
    let after_keys: BTreeSet<_> = after.samples.keys().collect();
    assert_eq!(before_keys, after_keys, "the set of series changed");
    assert!(!after.samples.keys().any(|k| k.contains("0x9001")));
}

#[tokio::test]
async fn what_players_do_shows_in_the_counters() {
    let server = Server::start().await;
    let base = scrape(server.addr).await;
    let delta = |s: &e2e::metrics::Scrape, name: &str, labels: &[(&str, &str)]| {
        s.value(name, labels) - base.value(name, labels)
    };
    let mut reader = server.client(&addr(1)).await;
    let writer = server.client(&addr(2)).await;
    reader.subscribe("world", None).await.unwrap();
    writer.subscribe("world", None).await.unwrap();
    for i in 0..5 {
        writer
            .publish("world", &format!("hello {i}"), &format!("m{i}"))
            .await
            .unwrap();
    }
    // A retry of a stored message is not a new message.
    writer.publish("world", "hello 0", "m0").await.unwrap();
    let got = messages(&mut reader, 5).await;
    writer.typing("world").await.unwrap();
    // Refusals: an unknown op, and a channel name that is not one.
    let e = writer.request("fly", json!({})).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnknownOp));
    let e = writer
        .subscribe("no spaces allowed", None)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidChannel));
    // A resume: a new socket subscribes with the last seq it saw.
    let last = got.last().unwrap().1;
    let resumed = server.client(&addr(3)).await;
    let ok = resumed.subscribe("world", Some(last - 2)).await.unwrap();
    assert_eq!(ok.recovered, Some(true));
    // A bad token at sign-in, and an HTTP refusal.
    let stranger = Client::connect(&server.ws_url(), Auth::Header("not-a-token".into())).await;
    if let Ok(mut c) = stranger {
        while !matches!(next_event(&mut c).await, realtime_client::Event::Closed(_)) {}
    }
    let refused = http::get(server.addr, "/v1/channels/world/messages", &[]).await;
    assert_eq!(refused.status, 401);

    eventually(&server, "counters", |s| {
        delta(s, "realtime_messages_in_total", &[("feature", "chat")]) == 5.0
            && delta(s, "realtime_messages_out_total", &[("feature", "chat")]) >= 10.0
            && delta(s, "realtime_messages_in_total", &[("feature", "typing")]) == 1.0
            // To the reader only: never back to the typer.
            && delta(s, "realtime_messages_out_total", &[("feature", "typing")]) == 1.0
            && delta(
                s,
                "realtime_refusals_total",
                &[("code", "unknown_op"), ("transport", "ws")],
            ) == 1.0
            && delta(
                s,
                "realtime_refusals_total",
                &[("code", "invalid_channel"), ("transport", "ws")],
            ) == 1.0
            && delta(
                s,
                "realtime_refusals_total",
                &[("code", "unauthorized"), ("transport", "http")],
            ) == 1.0
            && delta(s, "realtime_recoveries_total", &[("result", "recovered")]) == 1.0
            && delta(
                s,
                "realtime_sign_ins_total",
                &[("method", "token"), ("result", "ok")],
            ) == 3.0
            && delta(
                s,
                "realtime_sign_ins_total",
                &[("method", "token"), ("result", "refused")],
            ) == 1.0
            && s.value("realtime_connections", &[]) == 3.0
            && s.value("realtime_connections_signed_in", &[]) == 3.0
            && s.value("realtime_subscriptions", &[]) == 3.0
            && s.value("realtime_channels", &[]) == 1.0
            && delta(
                s,
                "realtime_connections_closed_total",
                &[("reason", "unauthorized")],
            ) == 1.0
            && delta(s, "realtime_storage_seconds_count", &[("op", "commit")]) >= 1.0
            && delta(s, "realtime_storage_seconds_count", &[("op", "read")]) >= 1.0
            && delta(s, "realtime_publish_delivery_seconds_count", &[]) == 5.0
            && delta(s, "realtime_http_requests_total", &[("class", "4xx")]) >= 1.0
    })
    .await;

    // A client that leaves is counted under `client`, and no longer open.
    resumed.close().await.unwrap();
    eventually(&server, "a closed connection", |s| {
        delta(
            s,
            "realtime_connections_closed_total",
            &[("reason", "client")],
        ) == 1.0
            && s.value("realtime_connections", &[]) == 2.0
            && s.value("realtime_subscriptions", &[]) == 2.0
    })
    .await;
    // The reader got the typing notice, and nothing else unasked for.
    assert!(matches!(
        next_event(&mut reader).await,
        realtime_client::Event::Push(realtime_client::Push::Typing { .. })
    ));
    quiet(&mut reader).await;
}

#[tokio::test]
async fn metrics_listen_serves_them_on_their_own_address_only() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::start_with(Options {
        toml: format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
        ..Options::default()
    })
    .await;
    let own: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut scraped = None;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(own).await.is_ok() {
            scraped = Some(scrape_at(own, "/metrics").await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let scraped = scraped.expect("the metrics listener never opened");
    assert!(scraped.families.contains_key("realtime_connections"));
    assert_eq!(http::get(server.addr, "/metrics", &[]).await.status, 404);
    assert_eq!(http::get(own, "/v1/status", &[]).await.status, 404);
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let server = Server::start_with(Options {
        toml: "[metrics]\nenabled = false\n".into(),
        ..Options::default()
    })
    .await;
    assert_eq!(http::get(server.addr, "/metrics", &[]).await.status, 404);
}

#[tokio::test]
async fn an_idle_instance_on_a_healthy_redis_counts_no_redis_errors() {
    let pair = e2e::pair::Pair::start(Options::default()).await;
    // Presence rounds run every second; an idle instance had nothing to send in them.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    for server in [&pair.a, &pair.b] {
        let s = scrape(server.addr).await;
        assert_eq!(
            s.total("realtime_redis_errors_total"),
            0.0,
            "{:#?}",
            s.samples
        );
        assert_eq!(s.value("realtime_bus_connected", &[]), 1.0);
    }
    // With a subscriber, the rounds write presence, and still nothing fails.
    let mut c = pair.a.client(&addr(1)).await;
    c.subscribe("world", None).await.unwrap();
    eventually(&pair.a, "a presence round", |s| {
        s.value("realtime_redis_seconds_count", &[("op", "shared")]) >= 2.0
    })
    .await;
    let s = scrape(pair.a.addr).await;
    assert_eq!(s.total("realtime_redis_errors_total"), 0.0);
    quiet(&mut c).await;
    pair.finish().await;
}
