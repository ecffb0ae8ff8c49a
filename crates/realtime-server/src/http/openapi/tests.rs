//! The document against the real router: every documented (method, path) reaches a handler
//! (not the router's 404 or 405 fallback), every answer it gives has its status documented and
//! a body valid under the documented schema, and every method a documented path serves is
//! documented. That every `.route("…")` of the sources is documented is in
//! `tests/openapi.rs`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use serde_json::{Value, json};
use tower_service::Service;

use super::routes::all as routes;
use super::{Auth, Method, Route, document};
use crate::client_ip::ClientIp;
use crate::config::Config;
use crate::state::{App, test_app};

/// A value for each path parameter, so the request reaches the route.
fn sample_path(path: &str) -> String {
    path.replace("{channel}", "world")
        .replace("{address}", "0x2")
        .replace("{id}", "1")
}

/// A query and a body that a handler accepts, so most routes answer their success.
fn sample_request(id: &str) -> (&'static str, Option<Value>) {
    match id {
        "history" => ("?limit=2", None),
        "threads" => ("?limit=5", None),
        "names" => ("?addresses=0x1,0x2", None),
        "notes" => ("?min_x=0&min_y=0&max_x=9&max_y=9", None),
        "publish" => (
            "",
            Some(json!({"body": "gm", "client_msg_id": "openapi-1"})),
        ),
        "read" => ("", Some(json!({"seq": 1}))),
        "sync" => ("", Some(json!({"channels": {"world": 0}}))),
        "note_create" => ("", Some(json!({"x": 1, "y": 1, "title": "here"}))),
        "note_edit" => ("", Some(json!({"title": "there"}))),
        "auth_challenge" => ("", Some(json!({"address": "0x1"}))),
        "report" => (
            "",
            Some(json!({"message": {"channel": "world", "seq": 1}, "reason": "spam"})),
        ),
        "moderation_jobs" => ("?state=all&limit=5", None),
        "moderation_audit" => ("?limit=5", None),
        "moderation_resolve" | "moderation_dismiss" => ("", Some(json!({"reason": "r"}))),
        "moderation_ban" | "moderation_mute" => (
            "",
            Some(json!({"address": "0x2", "duration": "1h", "reason": "r"})),
        ),
        "moderation_unban" | "moderation_unmute" => {
            ("", Some(json!({"address": "0x2", "reason": "r"})))
        }
        "moderation_revoke" => ("", Some(json!({"jti": "j", "reason": "r"}))),
        "moderation_remove_message" => (
            "",
            Some(json!({"channel": "world", "seq": 1, "reason": "r"})),
        ),
        "moderation_remove_note" => ("", Some(json!({"id": 1, "reason": "r"}))),
        _ => ("", None),
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let mut request = Request::builder()
        .method(method.as_str().to_uppercase().as_str())
        .uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(b) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let mut request = request.body(body).expect("a request");
    // What the listener adds to every request.
    request
        .extensions_mut()
        .insert(ClientIp(IpAddr::from([127, 0, 0, 1])));
    let mut service = router.clone();
    let response = tokio::time::timeout(Duration::from_secs(10), service.call(request))
        .await
        .unwrap_or_else(|_| panic!("{method:?} {uri} did not answer"))
        .unwrap_or_else(|e| match e {});
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body")
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

/// The answer of the router's own fallbacks: no route for the path, or not this method.
fn is_fallback(answer: &Answer) -> bool {
    let no_route = answer.status == 404
        && serde_json::from_slice::<Value>(&answer.body)
            .is_ok_and(|b| b["error"]["message"] == crate::web::NO_ROUTE);
    no_route || answer.status == 405
}

async fn router() -> (App, Router, std::path::PathBuf) {
    let mut config = Config::default();
    config.server.demo = true;
    let (app, dir) = test_app(config).await;
    let router = super::super::router(app.clone(), Arc::new(crate::features::all()));
    (app, router, dir)
}

/// `answer` as the document describes `route`'s answers: its status is listed, and a JSON
/// body is valid under the listed schema.
fn check_answer(doc: &Value, route: &Route, answer: &Answer) {
    let at = format!(
        "{} {} answered {}",
        route.method.as_str(),
        route.path,
        answer.status
    );
    let documented =
        &doc["paths"][route.path][route.method.as_str()]["responses"][answer.status.to_string()];
    assert!(
        documented.is_object(),
        "{at}, which the document does not list: {}",
        String::from_utf8_lossy(&answer.body)
    );
    let media_type = answer.content_type.split(';').next().unwrap_or("");
    let content = &documented["content"][media_type];
    assert!(
        content.is_object(),
        "{at} as {media_type}, which the document does not list"
    );
    if media_type != "application/json" {
        return;
    }
    let body: Value = serde_json::from_slice(&answer.body).expect("a JSON body");
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [content["schema"]],
    });
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{at}: {body}\n{}", errors.join("\n"));
}

#[tokio::test]
async fn every_documented_route_is_served_and_answers_as_documented() {
    let (app, router, dir) = router().await;
    let doc = document();
    let token = app
        .identity
        .tokens
        .mint_as(
            "0xa11ce".parse().expect("an address"),
            Duration::from_secs(60),
            true,
            // A moderator's, so the moderators' routes answer their success too.
            true,
        )
        .expect("a token")
        .0;
    for route in routes() {
        let (query, body) = sample_request(route.id);
        let uri = format!("{}{query}", sample_path(route.path));
        let token = (route.auth != Auth::Public).then_some(token.as_str());
        let answer = call(&router, route.method, &uri, token, body.as_ref()).await;
        assert!(
            !is_fallback(&answer),
            "{} {uri} is documented but not routed ({})",
            route.method.as_str(),
            answer.status
        );
        check_answer(&doc, route, &answer);
        // A route that takes a token answers its documented 401 without one.
        if route.auth == Auth::Token {
            let answer = call(&router, route.method, &uri, None, body.as_ref()).await;
            assert_eq!(
                answer.status,
                401,
                "{} {uri} without a token",
                route.method.as_str()
            );
            check_answer(&doc, route, &answer);
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_body_that_breaks_the_documented_schema_is_caught() {
    let doc = document();
    let history = routes()
        .find(|r| r.id == "history")
        .expect("the history route");
    let answer = |body: &str| Answer {
        status: 200,
        content_type: "application/json".into(),
        body: body.as_bytes().to_vec(),
    };
    check_answer(
        &doc,
        history,
        &answer(r#"{"channel":"world","messages":[],"has_more":false}"#),
    );
    for wrong in [
        r#"{"channel":"world","messages":[]}"#,
        r#"{"channel":"world","messages":[{"seq":1}],"has_more":false}"#,
    ] {
        let caught = std::panic::catch_unwind(|| check_answer(&doc, history, &answer(wrong)));
        assert!(caught.is_err(), "accepted {wrong}");
    }
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let (_app, router, dir) = router().await;
    let answer = call(&router, Method::Get, "/v1/openapi.json", None, None).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, "application/json");
    assert_eq!(
        String::from_utf8_lossy(&answer.body),
        super::to_pretty_json()
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A method the router serves on a documented path but the table lacks would be an
/// undocumented route: every method the table does not name must get the 405 fallback.
#[tokio::test]
async fn every_method_a_documented_path_serves_is_documented() {
    let (_app, router, dir) = router().await;
    let unknown = call(&router, Method::Get, "/v1/no-such-route", None, None).await;
    assert!(is_fallback(&unknown), "the fallback is recognised");
    for route in routes() {
        for method in Method::ALL {
            if routes().any(|r| r.path == route.path && r.method == method) {
                continue;
            }
            let uri = sample_path(route.path);
            let answer = call(&router, method, &uri, None, None).await;
            assert_eq!(
                answer.status,
                405,
                "{} {uri} is served but not documented",
                method.as_str()
            );
        }
    }
    std::fs::remove_dir_all(dir).ok();
}
