//! Decoding of every op, and of bad requests.
use super::*;

fn world() -> ChannelName {
    ChannelName::new("world").unwrap()
}

#[test]
fn decodes_every_op() {
    let cases = [
        (
            r#"{"id":1,"op":"auth","token":"t"}"#,
            Op::Auth { token: "t".into() },
        ),
        (
            r#"{"id":1,"op":"subscribe","channel":"world","since":41,"presence":true}"#,
            Op::Subscribe {
                channel: world(),
                since: Some(41),
                presence: true,
            },
        ),
        (
            r#"{"id":1,"op":"subscribe","channel":"world"}"#,
            Op::Subscribe {
                channel: world(),
                since: None,
                presence: false,
            },
        ),
        (
            r#"{"id":1,"op":"unsubscribe","channel":"world"}"#,
            Op::Unsubscribe { channel: world() },
        ),
        (
            r#"{"id":1,"op":"publish","channel":"world","body":"hi","client_msg_id":"m1"}"#,
            Op::Publish {
                channel: world(),
                body: "hi".into(),
                client_msg_id: "m1".into(),
            },
        ),
        (
            r#"{"id":1,"op":"history","channel":"world","before":10,"limit":20}"#,
            Op::History {
                channel: world(),
                before: Some(10),
                after: None,
                limit: Some(20),
            },
        ),
        (r#"{"id":1,"op":"ping"}"#, Op::Ping),
        (
            r#"{"id":1,"op":"refresh","token":"t"}"#,
            Op::Refresh { token: "t".into() },
        ),
        (
            r#"{"id":1,"op":"watch","area":{"min_x":1,"min_y":2,"max_x":3,"max_y":4},"mine":true}"#,
            Op::Watch {
                area: Some(Area {
                    min_x: 1,
                    min_y: 2,
                    max_x: 3,
                    max_y: 4,
                }),
                mine: true,
            },
        ),
        (
            r#"{"id":1,"op":"watch"}"#,
            Op::Watch {
                area: None,
                mine: false,
            },
        ),
    ];
    for (text, op) in cases {
        assert_eq!(decode_request(text), Ok(Request { id: 1, op }), "{text}");
    }
}

#[test]
fn tells_bad_frames_apart() {
    let e = decode_request("{not json").unwrap_err();
    assert_eq!((e.id, e.code), (None, ErrorCode::BadRequest));
    let e = decode_request("[1,2]").unwrap_err();
    assert_eq!((e.id, e.code), (None, ErrorCode::BadRequest));
    let e = decode_request(r#"{"op":"ping"}"#).unwrap_err();
    assert_eq!((e.id, e.code), (None, ErrorCode::BadRequest));
    let e = decode_request(r#"{"id":-1,"op":"ping"}"#).unwrap_err();
    assert_eq!((e.id, e.code), (None, ErrorCode::BadRequest));
    let e = decode_request(r#"{"id":4}"#).unwrap_err();
    assert_eq!((e.id, e.code), (Some(4), ErrorCode::BadRequest));
    let e = decode_request(r#"{"id":5,"op":"dance"}"#).unwrap_err();
    assert_eq!((e.id, e.code), (Some(5), ErrorCode::UnknownOp));
    let e = decode_request(r#"{"id":6,"op":"publish","channel":"world"}"#).unwrap_err();
    assert_eq!((e.id, e.code), (Some(6), ErrorCode::BadRequest));
    assert!(e.message.contains("body"), "{}", e.message);
    let e = decode_request(r#"{"id":7,"op":"subscribe","channel":"world","sinse":3}"#).unwrap_err();
    assert_eq!((e.id, e.code), (Some(7), ErrorCode::BadRequest));
    let e = decode_request(r#"{"id":8,"op":"subscribe","channel":"No Way"}"#).unwrap_err();
    assert_eq!((e.id, e.code), (Some(8), ErrorCode::InvalidChannel));
    let e = decode_request(
        r#"{"id":10,"op":"watch","area":{"min_x":5,"min_y":0,"max_x":1,"max_y":0}}"#,
    )
    .unwrap_err();
    assert_eq!((e.id, e.code), (Some(10), ErrorCode::BadRequest));
    let e = decode_request(r#"{"id":9,"op":"history","channel":"w","limit":"x"}"#).unwrap_err();
    assert_eq!((e.id, e.code), (Some(9), ErrorCode::BadRequest));
}

#[test]
fn names_takes_up_to_a_hundred_valid_addresses() {
    let r = decode_request(r#"{"id":1,"op":"names","addresses":["0x1","0x00ab"]}"#).unwrap();
    assert_eq!(
        r.op,
        Op::Names {
            addresses: vec!["0x1".parse().unwrap(), "0xab".parse().unwrap()]
        }
    );
    let e = decode_request(r#"{"id":2,"op":"names","addresses":["alice"]}"#).unwrap_err();
    assert_eq!((e.id, e.code), (Some(2), ErrorCode::BadRequest));
    let many: Vec<String> = (1..=101).map(|n| format!("\"0x{n:x}\"")).collect();
    let text = format!(
        r#"{{"id":3,"op":"names","addresses":[{}]}}"#,
        many.join(",")
    );
    let e = decode_request(&text).unwrap_err();
    assert_eq!((e.id, e.code), (Some(3), ErrorCode::BadRequest));
    assert!(e.message.contains("100"), "{}", e.message);
}
