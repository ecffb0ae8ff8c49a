//! JSON logs end to end: one `refused` line per refusal with what an operator needs (the
//! connection or request id, the address, the code), request ids echoed to clients, and never
//! a message body, a token or the session secret.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::{Server, addr, http};
use realtime_client::ErrorCode;
use serde_json::{Value, json};

const MARKER: &str = "do-not-log-this-body-7f3a";

/// The span of `name` a line was written in.
fn span<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"].as_array()?.iter().find(|s| s["name"] == name)
}

#[tokio::test]
async fn refusals_are_logged_once_with_their_connection_and_no_body_or_token_is() {
    let server = Server::start().await;
    let token = server.token(&addr(1));
    let client = server.client(&addr(1)).await;
    client.subscribe("world", None).await.unwrap();
    client.publish("world", MARKER, "m1").await.unwrap();
    // Too long: refused; the reason says how long, not what.
    let long = format!("{MARKER} {}", "x".repeat(5000));
    let e = client.publish("world", &long, "m2").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::MessageTooLong));
    // A frame that does not decode, with the marker where a decoder would quote it.
    client
        .send_raw(
            json!({"op": "publish", "id": 7, "channel": "world", "body": [MARKER]}).to_string(),
        )
        .await
        .unwrap();
    // The token sent again, in a refresh for another address: refused.
    let other = server.token(&addr(2));
    let e = client.refresh(&other).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Forbidden));

    let line = server
        .wait_for_log(Duration::from_secs(5), |l| {
            l["message"] == "refused" && l["code"] == "message_too_long"
        })
        .await;
    assert_eq!(line["op"], "publish");
    let conn = span(&line, "conn").expect("the connection's span");
    assert!(conn["id"].is_number(), "{line}");
    assert!(
        conn["address"].as_str().unwrap().ends_with("1001"),
        "{line}"
    );
    let line = server
        .wait_for_log(Duration::from_secs(5), |l| {
            l["message"] == "refused" && l["code"] == "bad_request"
        })
        .await;
    assert_eq!(line["reason"], "the request was malformed");
    server
        .wait_for_log(Duration::from_secs(5), |l| {
            l["message"] == "refused" && l["code"] == "forbidden" && l["op"] == "refresh"
        })
        .await;
    // One line per refusal.
    let refused = server
        .logs()
        .into_iter()
        .filter(|l| l["message"] == "refused" && l["code"] == "message_too_long")
        .count();
    assert_eq!(refused, 1);

    // Over HTTP: the client's request id comes back and is on the line.
    let response = http::get(
        server.addr,
        "/v1/channels/world/messages",
        &[("X-Request-Id", "ticket-4242")],
    )
    .await;
    assert_eq!(response.status, 401);
    assert_eq!(response.header("x-request-id"), Some("ticket-4242"));
    let line = server
        .wait_for_log(Duration::from_secs(5), |l| {
            l["message"] == "refused" && l["status"].is_number()
        })
        .await;
    let request = span(&line, "request").unwrap();
    assert_eq!(request["request_id"], "ticket-4242");
    assert_eq!(request["route"], "/v1/channels/{channel}/messages");
    assert_eq!(line["code"], "unauthorized");
    assert_eq!(line["status"], 401);
    // Without one, the server makes one up and says which.
    let response = http::get(server.addr, "/v1/nope", &[("X-Request-Id", "bad id!")]).await;
    let id = response.header("x-request-id").unwrap();
    assert_eq!(id.len(), 16, "{id}");

    // Nothing secret anywhere, at the most verbose level the tests run.
    let secret = String::from_utf8_lossy(&server.secret()).into_owned();
    let all = server
        .logs()
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!all.is_empty());
    for (what, needle) in [
        ("a message body", MARKER),
        ("a token", token.as_str()),
        ("another token", other.as_str()),
        ("the session secret", secret.as_str()),
    ] {
        assert!(!needle.is_empty());
        assert!(!all.contains(needle), "{what} is in the logs");
    }
}
