//! Moderation end to end: content rules, mutes, bans, revoked sessions, removals, reports,
//! the review queue and the audit log, against the real binary.

#![allow(clippy::unwrap_used)]

use e2e::http::authed;
use e2e::moderation::{act, look, moderator, other, pending_jobs, start};
use e2e::{addr, close_code, message_push, next_push, quiet};
use realtime_client::{Auth, Client, ErrorCode, History};
use serde_json::{Value, json};

#[tokio::test]
async fn content_rules_mask_hold_or_reject_and_the_sender_stays_connected() {
    let server = start().await;
    let reader = server.client(&addr(1)).await;
    reader.subscribe("world", None).await.unwrap();
    let mut reader = reader;
    let writer = server.client(&addr(2)).await;

    let masked = writer
        .publish("world", "what the HECK", "m1")
        .await
        .unwrap();
    assert_eq!(masked.seq, 1);
    let (_, _, m) = message_push(next_push(&mut reader).await);
    assert_eq!(m.body, "what the ****");

    let e = writer
        .publish("world", "see https://evil.example/x", "m2")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Rejected));
    assert!(e.to_string().contains("links to other sites"), "{e}");
    // Allowed links pass; the socket is still up.
    writer
        .publish("world", "map at https://eternum.realms.world", "m3")
        .await
        .unwrap();
    let (_, seq, _) = message_push(next_push(&mut reader).await);
    assert_eq!(seq, 2);

    let held: Value = writer
        .request(
            "publish",
            json!({"channel": "world", "body": "free airdrop, heck yes", "client_msg_id": "m4"}),
        )
        .await
        .unwrap();
    assert_eq!(held["held"], true, "{held}");
    assert_eq!(held["seq"], 0);
    // A retry of a held message is the same job.
    let retry: Value = writer
        .request(
            "publish",
            json!({"channel": "world", "body": "free airdrop, heck yes", "client_msg_id": "m4"}),
        )
        .await
        .unwrap();
    assert_eq!(retry["duplicate"], true, "{retry}");
    // The same id for other text is a conflict, as for a stored message.
    let e = writer
        .request(
            "publish",
            json!({"channel": "world", "body": "another airdrop", "client_msg_id": "m4"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Conflict));
    quiet(&mut reader).await;

    let jobs = pending_jobs(&server, 1).await;
    assert_eq!(jobs[0]["kind"], "held");
    assert_eq!(jobs[0]["rule"], "scam");
    assert_eq!(
        jobs[0]["body"], "free airdrop, **** yes",
        "masks apply to held text"
    );
    let id = jobs[0]["id"].as_u64().unwrap();
    let (status, job) = act(
        &server,
        &format!("/v1/moderation/jobs/{id}/resolve"),
        json!({"reason": "a real event"}),
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["state"], "resolved");
    let (_, seq, m) = message_push(next_push(&mut reader).await);
    assert_eq!((seq, m.body.as_str()), (3, "free airdrop, **** yes"));
    assert_eq!(m.client_msg_id.as_deref(), Some("m4"));
    let (status, again) = act(
        &server,
        &format!("/v1/moderation/jobs/{id}/resolve"),
        json!({"reason": "twice"}),
    )
    .await;
    assert_eq!(status, 409, "{again}");

    // Notes are screened too.
    let note: Result<Value, _> = writer
        .request(
            "note_create",
            json!({"x": 1, "y": 1, "title": "go to evil.xyz", "body": "b", "visibility": "public"}),
        )
        .await;
    assert_eq!(note.unwrap_err().code(), Some(ErrorCode::Rejected));
}

#[tokio::test]
async fn the_moderators_channel_announces_each_job_and_is_closed_to_players() {
    let server = start().await;
    let player = server.client(&addr(1)).await;
    let e = player.subscribe("moderation", None).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    let mut watcher = Client::connect(&server.ws_url(), Auth::Header(server.token(&moderator())))
        .await
        .unwrap();
    next_push(&mut watcher).await;
    watcher.subscribe("moderation", None).await.unwrap();
    player
        .publish("world", "airdrop for all", "h1")
        .await
        .unwrap();
    let (channel, _, m) = message_push(next_push(&mut watcher).await);
    assert_eq!(channel, "moderation");
    assert!(m.body.contains("held in world"), "{}", m.body);
    assert!(m.body.contains("airdrop for all"), "{}", m.body);
    assert!(
        m.sender.ends_with("0001"),
        "the server's own address: {}",
        m.sender
    );
    quiet(&mut watcher).await;
    // Players cannot post there either, nor read it over HTTP.
    let e = player.publish("moderation", "hi", "x").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));
    let token = server.token(&addr(1));
    let r = authed(
        server.addr,
        "GET",
        "/v1/channels/moderation/messages",
        &token,
        None,
    )
    .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn the_api_is_for_moderators_only() {
    let server = start().await;
    let player = server.token(&addr(1));
    for (method, path) in [
        ("GET", "/v1/moderation/jobs"),
        ("GET", "/v1/moderation/audit"),
        ("GET", "/v1/moderation/sanctions"),
        ("POST", "/v1/moderation/bans"),
    ] {
        let body = json!({"address": addr(2), "reason": "x"});
        let r = authed(server.addr, method, path, &player, Some(&body)).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.json()["error"]["code"], "forbidden");
    }
    // A token carrying the moderator claim is enough.
    let claimed = server.token_with(&addr(3), &["--moderator"]);
    let r = authed(server.addr, "GET", "/v1/moderation/jobs", &claimed, None).await;
    assert_eq!(r.status, 200);
    // Every action needs a reason.
    let (status, body) = act(
        &server,
        "/v1/moderation/bans",
        json!({"address": addr(2), "reason": " "}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_mute_stops_posting_where_it_applies_until_lifted() {
    let server = start().await;
    let muted = server.client(&addr(1)).await;
    let (status, body) = act(
        &server,
        "/v1/moderation/mutes",
        json!({"address": addr(1), "channel": "world", "duration": "10m", "reason": "spam"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "mute");
    let e = muted.publish("world", "hello", "a").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Muted));
    let ErrorBody { retry_after_ms, .. } = server_error(e);
    let wait = retry_after_ms.unwrap();
    assert!((590_000..=600_000).contains(&wait), "{wait}");
    muted
        .publish("trade", "elsewhere is fine", "b")
        .await
        .unwrap();

    let (status, _) = act(
        &server,
        "/v1/moderation/unmutes",
        json!({"address": addr(1), "reason": "served"}),
    )
    .await;
    assert_eq!(status, 200);
    muted.publish("world", "back", "c").await.unwrap();

    // Everywhere, until lifted.
    act(
        &server,
        "/v1/moderation/mutes",
        json!({"address": addr(1), "reason": "again"}),
    )
    .await;
    let e = muted.publish("trade", "x", "d").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Muted));
    assert_eq!(server_error(e).retry_after_ms, None);
}

use realtime_client::ErrorBody;

fn server_error(e: realtime_client::ClientError) -> ErrorBody {
    match e {
        realtime_client::ClientError::Server(b) => b,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test]
async fn a_ban_closes_every_socket_at_once_and_refuses_sign_in_until_lifted() {
    let server = start().await;
    let mut first = server.client(&addr(1)).await;
    first.subscribe("world", None).await.unwrap();
    first.subscribe("guild-hall", None).await.unwrap();
    let mut second = server.client(&addr(1)).await;
    second.subscribe("trade", None).await.unwrap();
    let bystander = server.client(&addr(2)).await;
    let (status, body) = act(
        &server,
        "/v1/moderation/bans",
        json!({"address": addr(1), "reason": "cheating"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for c in [&mut first, &mut second] {
        let (push, _, data) = other(next_push(c).await);
        assert_eq!(push, "banned");
        assert!(data["message"].as_str().unwrap().contains("cheating"));
        assert_eq!(close_code(c).await, Some(4403));
    }
    bystander.publish("world", "still here", "s").await.unwrap();

    // Connecting again is refused with the same code; HTTP with a token too.
    let mut again = Client::connect(&server.ws_url(), Auth::Header(server.token(&addr(1))))
        .await
        .unwrap();
    assert_eq!(close_code(&mut again).await, Some(4403));
    let status = e2e::http::get(server.addr, "/v1/status", &[]).await.json();
    assert_eq!(status["moderation"]["bans"], 1, "{status}");
    assert_eq!(status["moderation"]["rules"], 3);
    let token = server.token(&addr(1));
    let r = authed(server.addr, "GET", "/v1/me", &token, None).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (403, json!("banned"))
    );

    let (status, body) = act(
        &server,
        "/v1/moderation/unbans",
        json!({"address": addr(1), "reason": "appeal"}),
    )
    .await;
    assert_eq!((status, body["lifted"].clone()), (200, json!(1)));
    let back = server.client(&addr(1)).await;
    back.publish("world", "thanks", "t").await.unwrap();
}

#[tokio::test]
async fn a_revoked_session_is_refused_on_its_next_request_and_others_keep_working() {
    let server = start().await;
    let token = server.token(&addr(1));
    let jti = realtime_auth::Tokens::new(&server.secret(), true)
        .verify(&token)
        .unwrap()
        .jti
        .unwrap();
    let mut revoked = Client::connect(&server.ws_url(), Auth::Header(token.clone()))
        .await
        .unwrap();
    next_push(&mut revoked).await;
    let other_session = server.client(&addr(1)).await;
    let (status, body) = act(
        &server,
        "/v1/moderation/revocations",
        json!({"jti": jti, "reason": "stolen token"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (push, _, _) = other(next_push(&mut revoked).await);
    assert_eq!(push, "session_revoked");
    assert_eq!(close_code(&mut revoked).await, Some(4401));
    let r = authed(server.addr, "GET", "/v1/me", &token, None).await;
    assert_eq!(r.status, 401, "{}", r.json());
    other_session
        .publish("world", "still me", "x")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_removed_message_is_a_tombstone_live_and_in_history() {
    let server = start().await;
    let mut reader = server.client(&addr(1)).await;
    reader.subscribe("world", None).await.unwrap();
    let writer = server.client(&addr(2)).await;
    writer
        .publish("world", "something awful", "a")
        .await
        .unwrap();
    writer.publish("world", "fine", "b").await.unwrap();
    next_push(&mut reader).await;
    next_push(&mut reader).await;
    let (status, body) = act(
        &server,
        "/v1/moderation/messages/remove",
        json!({"channel": "world", "seq": 1, "reason": "abuse"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (push, channel, data) = other(next_push(&mut reader).await);
    assert_eq!(
        (push.as_str(), channel.as_deref()),
        ("message_removed", Some("world"))
    );
    assert_eq!(data["seq"], 1);
    let page = reader.history("world", History::default()).await.unwrap();
    assert!(page.messages[0].deleted && page.messages[0].body.is_empty());
    assert_eq!(page.messages[1].body, "fine");
    let (status, _) = act(
        &server,
        "/v1/moderation/messages/remove",
        json!({"channel": "world", "seq": 1, "reason": "twice"}),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn reports_collapse_are_limited_and_a_resolution_can_remove_the_message() {
    let server = start().await;
    let author = server.client(&addr(9)).await;
    author
        .publish("world", "buy gold cheap", "spam")
        .await
        .unwrap();
    let report =
        json!({"op": "report", "message": {"channel": "world", "seq": 1}, "reason": "spam"});
    let a = server.client(&addr(1)).await;
    let ok: Value = a.request("report", report_args(&report)).await.unwrap();
    assert_eq!(ok["duplicate"], false);
    let ok: Value = a.request("report", report_args(&report)).await.unwrap();
    assert_eq!(ok["duplicate"], true);
    // The burst is 2: the third report of this address waits.
    let e = a.request("report", report_args(&report)).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::RateLimited));
    let b = server.token(&addr(2));
    let body =
        json!({"message": {"channel": "world", "seq": 1}, "reason": "scam", "comment": "again"});
    let r = authed(server.addr, "POST", "/v1/reports", &b, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.json());

    // A thread can be reported by its participants only.
    let dm = "dm:0x1001:0x1009";
    let e = a
        .request(
            "report",
            json!({"message": {"channel": "dm:0x1002:0x1009", "seq": 1}, "reason": "spam"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden), "{dm}");

    let jobs = pending_jobs(&server, 1).await;
    assert_eq!(jobs[0]["kind"], "report");
    assert_eq!(jobs[0]["reports"], 2);
    assert_eq!(jobs[0]["body"], "buy gold cheap", "the text as reported");
    let id = jobs[0]["id"].as_u64().unwrap();
    let job = look(&server, &format!("/v1/moderation/jobs/{id}")).await;
    assert_eq!(job["report_list"].as_array().unwrap().len(), 2);
    assert_eq!(job["report_list"][1]["comment"], "again");
    let (status, body) = act(
        &server,
        &format!("/v1/moderation/jobs/{id}/resolve"),
        json!({"reason": "spam confirmed", "remove": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let page = a.history("world", History::default()).await.unwrap();
    assert!(page.messages[0].deleted);
    pending_jobs(&server, 0).await;
}

fn report_args(frame: &Value) -> Value {
    let mut args = frame.clone();
    args.as_object_mut().unwrap().remove("op");
    args
}

#[tokio::test]
async fn every_action_is_in_the_audit_log_newest_first_and_paged() {
    let server = start().await;
    let moderator_address = server
        .client(&moderator())
        .await
        .request("me", json!({}))
        .await
        .unwrap()["address"]
        .clone();
    for (path, body) in [
        (
            "/v1/moderation/mutes",
            json!({"address": addr(1), "reason": "r1"}),
        ),
        (
            "/v1/moderation/unmutes",
            json!({"address": addr(1), "reason": "r2"}),
        ),
        (
            "/v1/moderation/bans",
            json!({"address": addr(2), "duration": "1h", "reason": "r3"}),
        ),
    ] {
        assert_eq!(act(&server, path, body).await.0, 200);
    }
    let page = look(&server, "/v1/moderation/audit?limit=2").await;
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["action"], "ban");
    assert_eq!(entries[0]["reason"], "r3");
    assert_eq!(entries[0]["detail"]["duration"], "1h");
    assert_eq!(entries[0]["actor"], moderator_address);
    assert_eq!(entries[1]["action"], "unmute");
    let next = page["next"].as_u64().unwrap();
    let older = look(&server, &format!("/v1/moderation/audit?before={next}")).await;
    assert_eq!(older["entries"][0]["action"], "mute");
    assert!(older["next"].is_null());
    let sanctions = look(&server, "/v1/moderation/sanctions").await;
    assert_eq!(sanctions["sanctions"].as_array().unwrap().len(), 1);
    assert!(sanctions["sanctions"][0]["until"].is_string());
}
