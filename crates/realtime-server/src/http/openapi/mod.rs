//! The OpenAPI 3.1 document of the HTTP API, served at `GET /v1/openapi.json` and checked in
//! as `docs/openapi.json`.
//!
//! It is built from [`routes::ROUTES`], one entry per (method, path), and from the JSON
//! Schemas (2020-12, which OpenAPI 3.1 takes as is) of the types the handlers decode and
//! encode, so a field added to a reply type shows up without touching the document. What
//! the types cannot say (which routes need a token, which error codes a handler can answer)
//! is in the entry, next to the path. Tests hold the table to the router: every entry is
//! routed, and every `.route("…")` of the server has an entry.

mod entry;
mod moderation;
pub mod routes;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use realtime_core::ErrorCode;
use realtime_protocol::ErrorBody;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

pub use entry::{Also, Auth, Method, Reply, Route, SchemaFn, inline, named};

/// Every HTTP error: the error object of the WebSocket protocol under `error`.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct HttpError {
    error: ErrorBody,
}

/// The security scheme routes with a token name.
const BEARER: &str = "session";

const INFO: &str = "\
The HTTP routes of torii-realtime. Most of them do over HTTP what an op of the WebSocket \
protocol v1 does (`GET /v1/ws`; frames, sign-in and codes in docs/protocol.md), with the \
same checks and the same reply. Generated from the server's code (docs/openapi.json, \
`GET /v1/openapi.json`); do not edit by hand.\n\n\
Every error has one body, `{\"error\": {\"code\", \"message\", \"retry_after_ms\"?}}`, whose \
code is one of the protocol's and sets the HTTP status (docs/protocol.md, Error codes). \
`Retry-After` (seconds) comes with `retry_after_ms`, and every 401 with \
`WWW-Authenticate: Bearer`. Besides the answers listed with each route, any route may answer \
405 (`bad_request`: the path does not serve that method), 408 (`bad_request`: the request \
took longer than `server.request_timeout`), and, before any route runs, 429 or 503 \
(`too_many_connections`) when the client's address or the server holds its most \
connections.";

/// The whole document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let error = generator.subschema_for::<HttpError>().to_value();
    let mut paths: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
    for route in routes::all() {
        let operation = operation(route, &mut generator, &error);
        paths
            .entry(route.path)
            .or_default()
            .insert(route.method.as_str().to_owned(), operation);
    }
    let tags: Vec<Value> = routes::TAGS
        .iter()
        .map(|(name, description)| json!({"name": name, "description": description}))
        .collect();
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "torii-realtime HTTP API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO,
            "license": {
                "name": env!("CARGO_PKG_LICENSE"),
                "identifier": env!("CARGO_PKG_LICENSE"),
            },
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait, when the error has `retry_after_ms`.",
                    "schema": {"type": "integer", "minimum": 1},
                },
                "WWW-Authenticate": {
                    "description": "`Bearer`.",
                    "schema": {"type": "string"},
                },
            },
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A session token: from wallet sign-in (`POST \
                        /v1/auth/verify`), a game backend's token (`[auth.external]`), or in \
                        development `torii-realtime token`.",
                },
            },
        },
    })
}

/// The document as served and checked in: pretty, with a final newline.
pub fn to_pretty_json() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

/// `GET /v1/openapi.json`: the document, built on the first request.
pub async fn serve() -> Response {
    static DOCUMENT: LazyLock<String> = LazyLock::new(to_pretty_json);
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

fn operation(route: &Route, generator: &mut SchemaGenerator, error: &Value) -> Value {
    let mut op = Map::new();
    op.insert("operationId".into(), route.id.into());
    op.insert("summary".into(), route.summary.into());
    if !route.about.is_empty() {
        op.insert("description".into(), route.about.into());
    }
    op.insert("tags".into(), json!([route.tag]));
    let mut parameters = path_parameters(route.path, generator);
    if let Some(query) = route.query {
        parameters.extend(query_parameters(&query(generator).to_value()));
    }
    if matches!(route.reply, Some(Reply::Upgrade)) {
        parameters.extend(upgrade_headers());
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), parameters.into());
    }
    if let Some(body) = route.body {
        op.insert(
            "requestBody".into(),
            json!({"required": true, "content": {"application/json": {"schema": body(generator)}}}),
        );
    }
    op.insert("responses".into(), responses(route, generator, error));
    let bearer = json!({ BEARER: [] });
    match route.auth {
        Auth::Public => {}
        Auth::Token => {
            op.insert("security".into(), json!([bearer]));
        }
        // `{}`: no token at all is accepted too.
        Auth::OptionalToken => {
            op.insert("security".into(), json!([{}, bearer]));
        }
    }
    Value::Object(op)
}

/// A parameter for each `{name}` of the path, described by [`routes::PATH_PARAMETERS`].
fn path_parameters(path: &str, generator: &mut SchemaGenerator) -> Vec<Value> {
    path_parameter_names(path)
        .into_iter()
        .map(|name| {
            let known = routes::PATH_PARAMETERS.iter().find(|p| p.name == name);
            let schema = known.map_or_else(
                || json!({"type": "string"}),
                |p| (p.schema)(generator).to_value(),
            );
            let mut parameter =
                json!({"name": name, "in": "path", "required": true, "schema": schema});
            if let Some(p) = known {
                parameter["description"] = p.description.into();
            }
            parameter
        })
        .collect()
}

/// The names between braces in a route's path.
pub fn path_parameter_names(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The fields of a query struct's schema as query parameters. A field that may be absent
/// is optional; its `null` (absent, to serde) is no value a query string can carry.
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut property = property.clone();
            let description = property
                .as_object_mut()
                .and_then(|p| p.remove("description"));
            if let Some(types) = property["type"].as_array() {
                let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                property["type"] = match types.as_slice() {
                    [one] => one.clone(),
                    _ => types.into(),
                };
            }
            let mut parameter = json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": property,
            });
            if let Some(description) = description {
                parameter["description"] = description;
            }
            parameter
        })
        .collect()
}

/// The headers of a WebSocket upgrade request (RFC 6455) this server reads.
fn upgrade_headers() -> Vec<Value> {
    let header = |name: &str, required: bool, description: &str| {
        json!({"name": name, "in": "header", "required": required,
               "description": description, "schema": {"type": "string"}})
    };
    vec![
        header("Connection", true, "`Upgrade`."),
        header("Upgrade", true, "`websocket`."),
        header("Sec-WebSocket-Version", true, "`13`."),
        header("Sec-WebSocket-Key", true, "The handshake key (RFC 6455)."),
        header(
            "Sec-WebSocket-Protocol",
            false,
            "`realtime.v1`, and `bearer.<token>` to present a session token from a browser.",
        ),
        header(
            "Origin",
            false,
            "Sent by browsers: must be one of `server.cors_origins`, unless any origin is allowed.",
        ),
    ]
}

fn responses(route: &Route, generator: &mut SchemaGenerator, error: &Value) -> Value {
    let mut responses = Map::new();
    match route.reply {
        Some(Reply::Json(schema)) => {
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": {"application/json": {"schema": schema(generator)}}}),
            );
        }
        Some(Reply::File(media_type)) => {
            responses.insert(
                "200".into(),
                json!({"description": "OK", "content": {media_type: {"schema": {"type": "string"}}}}),
            );
        }
        Some(Reply::Upgrade) => {
            responses.insert("101".into(), switching_protocols());
        }
        None => {}
    }
    for also in route.also {
        responses.insert(
            also.status.to_string(),
            json!({"description": also.description,
                   "content": {"application/json": {"schema": (also.schema)(generator)}}}),
        );
    }
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in route.error_codes() {
        by_status.entry(code.http_status()).or_default().push(code);
    }
    for (status, codes) in by_status {
        responses
            .entry(status.to_string())
            .or_insert_with(|| error_response(status, &codes, error));
    }
    Value::Object(responses)
}

/// The error body with the codes it may carry at `status`, and the headers that come with
/// them.
fn error_response(status: u16, codes: &[ErrorCode], error: &Value) -> Value {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let names: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
    let mut response = json!({
        "description": format!("{reason}: {}.", names.join(", ")),
        "content": {"application/json": {"schema": error}},
    });
    if status == 401 {
        response["headers"] =
            json!({"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}});
    }
    if codes.contains(&ErrorCode::RateLimited) || codes.contains(&ErrorCode::Unavailable) {
        response["headers"] = json!({"Retry-After": {"$ref": "#/components/headers/Retry-After"}});
    }
    response
}

fn switching_protocols() -> Value {
    json!({
        "description": "Switching Protocols: the connection is a WebSocket of protocol v1 \
            (docs/protocol.md). A token presented at the upgrade that does not verify closes \
            it with 4401 or 4402 after the handshake.",
        "headers": {
            "Upgrade": {"description": "`websocket`.", "schema": {"type": "string"}},
            "Connection": {"description": "`upgrade`.", "schema": {"type": "string"}},
            "Sec-WebSocket-Accept": {"description": "RFC 6455.", "schema": {"type": "string"}},
            "Sec-WebSocket-Protocol": {
                "description": "`realtime.v1` when offered; when only other `realtime.` \
                    versions are, one of them, and the socket closes with 4426.",
                "schema": {"type": "string"},
            },
        },
    })
}
