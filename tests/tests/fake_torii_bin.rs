//! The `fake-torii` binary, driven through stdin as tests in other languages drive it, with
//! the real server following it: its commands make players, guild members and map positions
//! as config/eternum-blitz.toml reads them.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use e2e::blitz::{config_file, wait_ready};
use e2e::{Options, Server, message_push, next_push};
use realtime_client::{ErrorCode, Event, Push};
use serde_json::{Value, json};

/// A running `fake-torii`, killed when dropped.
struct Fake {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Fake {
    /// Starts the binary and reads its first line.
    fn start() -> (Self, Value) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fake-torii"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut fake = Self {
            child,
            stdin,
            stdout,
        };
        let first = fake.line();
        (fake, first)
    }

    fn line(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// Sends one line and returns the answer.
    fn send(&mut self, line: &str) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        self.line()
    }

    /// Sends a command that must succeed.
    fn ok(&mut self, command: Value) {
        let answer = self.send(&command.to_string());
        assert_eq!(answer, json!({"ok": true}), "{command}");
    }

    /// Sends a line that must be refused; returns the reason.
    fn refused(&mut self, line: &str) -> String {
        let answer = self.send(line);
        answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error for {line}, got {answer}"))
            .to_owned()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Retries `attempt` for up to 2 s: on-chain changes reach the server a moment after the
/// fake answers.
async fn eventually<F, Fut>(what: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if attempt().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("not within 2 s: {what}");
}

const ALICE: &str = "0x64b48806902a367c8598f4f95c305e8c1a1acba5f082d294a43793113115691";

#[tokio::test]
async fn commands_make_players_guild_members_and_positions() {
    let (mut fake, first) = Fake::start();
    let listening = first["listening"].as_str().unwrap();
    assert!(listening.starts_with("127.0.0.1:"), "{first}");
    let env: Vec<(String, String)> = first["env"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert!(
        env.iter()
            .any(|(k, v)| k == "TORII_REALTIME__TORII__GRPC_URL" && v.ends_with(listening)),
        "{first}"
    );
    let server = Server::start_with(Options {
        config_file: Some(config_file()),
        env,
        ..Options::default()
    })
    .await;
    wait_ready(&server).await;

    // A name registered on chain makes a player, welcomed in world chat under that name.
    let mut lobby = server.client("0x4242").await;
    lobby.subscribe("world", None).await.unwrap();
    let mut alice = server.client(ALICE).await;
    assert_eq!(
        alice.publish("world", "hi", "w0").await.unwrap_err().code(),
        Some(ErrorCode::Forbidden),
        "no player before the name"
    );
    fake.ok(json!({"op": "player", "address": ALICE, "name": "alice"}));
    let (channel, _, m) = message_push(next_push(&mut lobby).await);
    assert_eq!(
        (channel.as_str(), m.body.as_str()),
        ("world", "alice joined the world")
    );
    eventually("alice posts as a player", || async {
        alice.publish("world", "hi", "w1").await.is_ok()
    })
    .await;

    // Joining a guild opens its channel.
    fake.ok(json!({"op": "join_guild", "address": ALICE, "guild": "0x9001"}));
    eventually("alice reads her guild channel", || async {
        alice.subscribe("guild:0x9001", None).await.is_ok()
    })
    .await;

    // Bad lines are answered and the process goes on.
    for (line, reason) in [
        ("not json", "not JSON"),
        ("[1]", "JSON object"),
        (r#"{"op":"teleport"}"#, "unknown op"),
        (r#"{"op":"player","address":"0x0","name":"z"}"#, "address"),
        (
            r#"{"op":"player","address":"0x1","name":"é"}"#,
            "short string",
        ),
        (
            r#"{"op":"player","address":"0x1","nme":"z"}"#,
            "unknown field",
        ),
        (
            r#"{"op":"structure","id":-1,"owner":"0x1","x":1,"y":1}"#,
            "\"id\"",
        ),
        (
            r#"{"op":"explorer","id":1,"structure":99,"x":1,"y":1}"#,
            "never sent",
        ),
        (r#"{"op":"leave_guild","address":"0x5"}"#, "no guild"),
    ] {
        let got = fake.refused(line);
        assert!(got.contains(reason), "{line}: {got}");
    }

    // A structure and its explorer put alice on the map; sending the explorer again moves it.
    fake.ok(json!({"op": "structure", "id": 7, "owner": ALICE, "x": 100, "y": 100}));
    fake.ok(json!({"op": "explorer", "id": 1, "structure": 7, "x": 101, "y": 100}));
    let note = |x: u32, y: u32| json!({"x": x, "y": y, "title": "here"});
    eventually("alice pins near her structure", || async {
        alice.request("note_create", note(102, 100)).await.is_ok()
    })
    .await;
    assert_eq!(
        alice
            .request("note_create", note(300, 300))
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::Forbidden)
    );
    fake.ok(json!({"op": "explorer", "id": 1, "structure": 7, "x": 299, "y": 300}));
    eventually("alice pins where her explorer moved", || async {
        alice.request("note_create", note(300, 300)).await.is_ok()
    })
    .await;

    // Leaving the guild is a deletion on chain: the subscription is revoked.
    fake.ok(json!({"op": "leave_guild", "address": ALICE}));
    loop {
        match alice.next_event_within(Duration::from_secs(2)).await {
            Some(Event::Push(Push::PermissionRevoked { channel, .. })) => {
                assert_eq!(channel, "guild:0x9001");
                break;
            }
            Some(Event::Push(_)) => continue,
            other => panic!("expected permission_revoked, got {other:?}"),
        }
    }

    // Closing stdin ends the process.
    drop(fake.stdin.take());
    let status = tokio::task::spawn_blocking(move || {
        let status = fake.child.wait().unwrap();
        drop(fake);
        status
    })
    .await
    .unwrap();
    assert!(status.success(), "{status}");
}
