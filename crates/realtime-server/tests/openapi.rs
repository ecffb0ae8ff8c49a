//! `docs/openapi.json` is the document the code generates, it is a well-formed OpenAPI 3.1
//! document, and every route the server's sources register is in it.
//! `UPDATE_SCHEMA=1 cargo test -p realtime-server --test openapi` rewrites the file after a
//! change of the routes or of their types (the same variable rewrites
//! `docs/protocol.schema.json` in `realtime-protocol`).
//!
//! That every documented route is served, and every method of a documented path is
//! documented, is checked against the real router in the crate's unit tests
//! (`http::openapi::tests`).

use std::path::{Path, PathBuf};

use realtime_server::http::openapi;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_checked_in_document_is_current() {
    let path = root().join("docs/openapi.json");
    let fresh = openapi::to_pretty_json();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).expect("write docs/openapi.json");
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == fresh,
        "docs/openapi.json is not what the route table and the types generate; run \
         UPDATE_SCHEMA=1 cargo test -p realtime-server --test openapi"
    );
}

/// Every `"$ref"` string under `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_and_every_ref_resolves() {
    let text = std::fs::read_to_string(root().join("docs/openapi.json")).expect("openapi.json");
    let document: Value = serde_json::from_str(&text).expect("docs/openapi.json is JSON");
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());
    let paths = document["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{} paths", paths.len());
    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(found.len() > 20, "{} refs", found.len());
    for r in found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r}: only local refs"));
        assert!(
            document.pointer(pointer).is_some(),
            "{r} resolves to nothing"
        );
    }
    for (name, schema) in document["components"]["schemas"]
        .as_object()
        .expect("schemas")
    {
        assert!(
            jsonschema::meta::is_valid(schema),
            "components.schemas.{name} is not a valid JSON Schema"
        );
    }
}

#[test]
fn every_operation_has_an_id_a_summary_a_tag_and_answers() {
    let document = openapi::document();
    let tags: Vec<&str> = openapi::routes::TAGS.iter().map(|(t, _)| *t).collect();
    let mut ids = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(!ids.contains(&id), "{at}: operationId {id} is taken");
            ids.push(id);
            assert!(!op["summary"].as_str().unwrap_or("").is_empty(), "{at}");
            let tag = op["tags"][0].as_str().unwrap_or("");
            assert!(tags.contains(&tag), "{at}: tag {tag:?} is not in TAGS");
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('1') || s.starts_with('2')),
                "{at}: no success answer"
            );
            for name in openapi::path_parameter_names(path) {
                let described = op["parameters"].as_array().into_iter().flatten().any(|p| {
                    p["name"] == name && p["in"] == "path" && p["description"].is_string()
                });
                assert!(described, "{at}: {{{name}}} is not in PATH_PARAMETERS");
            }
            if op
                .get("security")
                .is_some_and(|s| s != &Value::Array(vec![]))
            {
                assert!(
                    responses.contains_key("401") || path == "/v1/ws",
                    "{at}: no 401"
                );
            }
        }
    }
}

/// Every source file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("a source directory")
        .flatten()
    {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a source file: comments and test code left out.
fn code(text: &str) -> String {
    // Test code builds routers of its own.
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The path literal of each `.route(` / `.route_service(` call in `code`, and the calls this
/// scan cannot follow: a path that is not a literal, a nested router.
fn routed_paths(code: &str) -> (Vec<String>, Vec<String>) {
    let mut literals = Vec::new();
    let mut other = Vec::new();
    for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
        for (at, _) in code.match_indices(call) {
            // `feed.route(update)` routes an on-chain update, not a request.
            if code[..at].ends_with("feed") {
                continue;
            }
            let rest = code[at + call.len()..].trim_start();
            match rest.strip_prefix('"').and_then(|r| r.split_once('"')) {
                Some((path, _)) if !call.starts_with(".nest") => literals.push(path.to_owned()),
                _ => other.push(rest.chars().take(40).collect()),
            }
        }
    }
    (literals, other)
}

/// Any route registered anywhere in the server (the core's, a feature's `routes()`, the
/// demo's) is a `.route("…")` call with a literal path: each must be in the document, so a
/// route added without its table entry fails here.
#[test]
fn every_route_in_the_server_sources_is_documented() {
    let document = openapi::document();
    let documented = document["paths"].as_object().expect("paths");
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut seen = 0;
    let mut missing = Vec::new();
    for file in files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("source");
        let (paths, other) = routed_paths(&code(&text));
        assert!(
            other.is_empty(),
            "{}: a route whose path is not a literal, or a nested router: {other:?}; give it a \
             literal path so this test can check the document",
            file.display()
        );
        for path in paths {
            seen += 1;
            if !documented.contains_key(&path) {
                missing.push(format!("{path} ({})", file.display()));
            }
        }
    }
    assert!(
        seen >= 20,
        "found only {seen} routes: is the scan still right?"
    );
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}; add an entry to \
         crates/realtime-server/src/http/openapi/routes.rs and regenerate docs/openapi.json"
    );
}
