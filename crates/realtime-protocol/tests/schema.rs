//! `docs/protocol.schema.json` is the schema the code generates, and every frame shown in
//! `docs/protocol.md` is valid under it. `UPDATE_SCHEMA=1 cargo test -p realtime-protocol`
//! rewrites the file after a change of the protocol types.

use std::path::PathBuf;

use serde_json::Value;

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&realtime_protocol::schema::schema())
        .expect("a schema serialises");
    text.push('\n');
    text
}

#[test]
fn the_checked_in_schema_is_current() {
    let path = docs().join("protocol.schema.json");
    let fresh = generated();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &fresh).expect("write the schema");
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == fresh,
        "docs/protocol.schema.json is not what the protocol types generate; run \
         UPDATE_SCHEMA=1 cargo test -p realtime-protocol --test schema"
    );
}

/// Every JSON frame in the ```json blocks of docs/protocol.md (several per block, each
/// possibly over several lines).
fn documented_frames() -> Vec<Value> {
    let text = std::fs::read_to_string(docs().join("protocol.md")).expect("protocol.md");
    let mut frames = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```json\n") {
        let block = &rest[start + "```json\n".len()..];
        let end = block.find("```").expect("a closed code block");
        for frame in serde_json::Deserializer::from_str(&block[..end]).into_iter::<Value>() {
            frames.push(frame.unwrap_or_else(|e| panic!("not JSON in protocol.md: {e}")));
        }
        rest = &block[end + 3..];
    }
    frames
}

#[test]
fn every_documented_frame_is_valid() {
    let schema = realtime_protocol::schema::schema();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let frames = documented_frames();
    assert!(
        frames.len() >= 20,
        "protocol.md shows {} frames",
        frames.len()
    );
    for frame in &frames {
        let errors: Vec<String> = validator
            .iter_errors(frame)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{frame}\n{}", errors.join("\n"));
    }
}

#[test]
fn frames_that_break_the_protocol_are_invalid() {
    let schema = realtime_protocol::schema::schema();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    for bad in [
        r#"{"op":"ping"}"#,
        r#"{"id":1,"op":"publish","channel":"world","body":"gm"}"#,
        r#"{"id":1,"op":"subscribe","channel":"world","sinse":3}"#,
        r#"{"id":1,"op":"teleport"}"#,
        r#"{"id":1,"error":{"code":"no_such_code","message":"x"}}"#,
        r#"{"push":"message","channel":"world","data":{"sender":"0x1","body":"gm","ts":"t"}}"#,
    ] {
        let frame: Value = serde_json::from_str(bad).unwrap();
        assert!(!validator.is_valid(&frame), "accepted: {bad}");
    }
}
