//! The command line: config errors name file, key and reason; migrations; token gating; the
//! readiness probe containers run.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use e2e::blitz::{config_file, torii_env, wait_ready, world};
use e2e::{Options, Server, binary, unique};

struct Dir(std::path::PathBuf);

impl Dir {
    fn new() -> Self {
        let d = std::env::temp_dir().join(unique("realtime_cli"));
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }

    fn file(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str], env: &[(&str, &str)], dir: &Dir) -> (bool, String, String) {
    let out = Command::new(binary())
        .args(args)
        .envs(env.iter().copied())
        .env_remove("TORII_REALTIME_CONFIG")
        .current_dir(&dir.0)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_reports_file_key_and_reason() {
    let dir = Dir::new();
    let good = dir.file("good.toml", "[server]\nlisten = \"0.0.0.0:9000\"\n");
    let (ok, out, _) = run(&["config", "check", good.to_str().unwrap()], &[], &dir);
    assert!(ok);
    assert!(out.contains("good.toml: ok"));

    let typo = dir.file("typo.toml", "[server]\nlisen = \"0.0.0.0:9000\"\n");
    let (ok, _, err) = run(&["config", "check", typo.to_str().unwrap()], &[], &dir);
    assert!(!ok);
    assert!(err.contains("typo.toml"), "{err}");
    assert!(err.contains("lisen"), "{err}");

    let bad = dir.file("bad.toml", "[limits]\nmax_message_chars = \"many\"\n");
    let (ok, _, err) = run(&["config", "check", bad.to_str().unwrap()], &[], &dir);
    assert!(!ok);
    assert!(
        err.contains("bad.toml") && err.contains("limits.max_message_chars"),
        "{err}"
    );

    let rule = dir.file("rule.toml", "[limits]\nsend_queue_bytes = 10\n");
    let (ok, _, err) = run(&["config", "check", rule.to_str().unwrap()], &[], &dir);
    assert!(!ok);
    assert!(err.contains("limits.send_queue_bytes"), "{err}");

    let syntax = dir.file("syntax.toml", "[server\n");
    let (ok, _, err) = run(&["config", "check", syntax.to_str().unwrap()], &[], &dir);
    assert!(!ok);
    assert!(
        err.contains("syntax.toml") && err.contains("not valid TOML"),
        "{err}"
    );

    let (ok, _, err) = run(
        &["config", "check", good.to_str().unwrap()],
        &[("TORII_REALTIME__SERVER__MAX_CONNECTIONS", "lots")],
        &dir,
    );
    assert!(!ok);
    assert!(
        err.contains("TORII_REALTIME__SERVER__MAX_CONNECTIONS")
            && err.contains("server.max_connections"),
        "{err}"
    );

    let (ok, out, _) = run(
        &["config", "check", good.to_str().unwrap(), "--print"],
        &[
            (
                "TORII_REALTIME__STORAGE__URL",
                "postgres://app:hunter2@db/chat",
            ),
            (
                "TORII_REALTIME__AUTH__SESSION_SECRET",
                "12345678901234567890123456789012345",
            ),
        ],
        &dir,
    );
    assert!(ok);
    assert!(out.contains("listen = \"0.0.0.0:9000\""), "{out}");
    assert!(out.contains("postgres://app:***@db/chat"), "{out}");
    assert!(
        !out.contains("hunter2") && !out.contains("1234567890123"),
        "{out}"
    );
}

#[test]
fn the_example_config_is_valid() {
    let dir = Dir::new();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/realtime.example.toml");
    let (ok, _, err) = run(&["config", "check", example.to_str().unwrap()], &[], &dir);
    assert!(ok, "{err}");
}

#[test]
fn serve_with_a_bad_config_fails_at_start() {
    let dir = Dir::new();
    let bad = dir.file("bad.toml", "[storage]\nurl = \"mysql://x\"\n");
    let (ok, _, err) = run(&["serve", "--config", bad.to_str().unwrap()], &[], &dir);
    assert!(!ok);
    assert!(
        err.contains("mysql://x") && err.contains("expected sqlite"),
        "{err}"
    );
}

#[test]
fn token_is_refused_unless_development_tokens_are_enabled() {
    let dir = Dir::new();
    let (ok, _, err) = run(&["token", "--address", "0x1"], &[], &dir);
    assert!(!ok);
    assert!(err.contains("dev_tokens"), "{err}");
    let on = [("TORII_REALTIME__AUTH__DEV_TOKENS", "true")];
    let (ok, out, _) = run(&["token", "--address", "0x1"], &on, &dir);
    assert!(ok);
    assert_eq!(out.trim().split('.').count(), 3, "a JWT: {out}");
    let (ok, _, err) = run(&["token", "--address", "bob"], &on, &dir);
    assert!(!ok && err.contains("--address"), "{err}");
    let (ok, _, err) = run(&["token", "--address", "0x1", "--ttl", "soon"], &on, &dir);
    assert!(!ok && err.contains("--ttl"), "{err}");
}

#[test]
fn migrate_up_down_and_status() {
    let dir = Dir::new();
    let (ok, out, err) = run(&["migrate", "status"], &[], &dir);
    assert!(ok, "{err}");
    assert!(out.contains("pending"), "{out}");
    // The plan first: nothing changes.
    let (ok, out, _) = run(&["migrate", "up", "--dry-run"], &[], &dir);
    assert!(ok && out.contains("would apply 1 messages"), "{out}");
    assert!(out.contains("would apply 5 moderation"), "{out}");
    let (_, out, _) = run(&["migrate", "status"], &[], &dir);
    assert!(!out.contains("applied"), "a dry run applies nothing: {out}");
    let (ok, out, _) = run(&["migrate", "up"], &[], &dir);
    assert!(ok && out.contains("applied 1"), "{out}");
    let (_, out, _) = run(&["migrate", "up"], &[], &dir);
    assert!(out.contains("nothing to apply"), "{out}");
    let (_, out, _) = run(&["migrate", "status"], &[], &dir);
    assert!(out.contains("applied"), "{out}");
    let (ok, out, _) = run(&["migrate", "down", "2", "--dry-run"], &[], &dir);
    assert!(ok, "{out}");
    assert_eq!(
        out.trim(),
        "would revert 6 retention\nwould revert 5 moderation"
    );
    // One step back reverts the newest migration only.
    let (ok, out, _) = run(&["migrate", "down"], &[], &dir);
    assert!(ok && out.trim() == "reverted 6", "{out}");
    let (_, out, _) = run(&["migrate", "down", "7"], &[], &dir);
    assert_eq!(
        out.trim(),
        "reverted 5\nreverted 4\nreverted 3\nreverted 2\nreverted 1"
    );
    let (_, out, _) = run(&["migrate", "down"], &[], &dir);
    assert!(out.contains("nothing to revert"), "{out}");
    assert!(
        dir.0.join("data/realtime.db").exists(),
        "the default SQLite file"
    );
}

#[test]
fn migrate_takes_config_before_or_after_its_action() {
    let dir = Dir::new();
    let file = dir.file(
        "elsewhere.toml",
        "[storage]\nurl = \"sqlite://other/chat.db\"\n",
    );
    std::fs::create_dir_all(dir.0.join("other")).unwrap();
    let file = file.to_str().unwrap();
    // As operations.md writes it: the action first, then the file.
    let (ok, out, err) = run(&["migrate", "up", "--config", file], &[], &dir);
    assert!(ok && out.contains("applied 1"), "{out}{err}");
    let (ok, out, err) = run(&["migrate", "--config", file, "status"], &[], &dir);
    assert!(ok && out.contains("applied"), "{out}{err}");
    assert!(dir.0.join("other/chat.db").exists());
    assert!(
        !dir.0.join("data/realtime.db").exists(),
        "the defaults were used"
    );
}

#[test]
fn help_is_useful_on_every_command() {
    let dir = Dir::new();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["migrate", "down", "--help"],
        vec!["config", "check", "--help"],
        vec!["token", "--help"],
        vec!["healthcheck", "--help"],
    ] {
        let (ok, out, _) = run(&args, &[], &dir);
        assert!(ok, "{args:?}");
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

/// Runs `healthcheck` with `args` and `env`: (exit code, stdout, stderr).
fn healthcheck(args: &[&str], env: &[(String, String)]) -> (Option<i32>, String, String) {
    let out = Command::new(binary())
        .arg("healthcheck")
        .args(args)
        .envs(env.iter().cloned())
        .env_remove("TORII_REALTIME_CONFIG")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The container image's health check: exit 0 only while `/readyz` answers 200, and 1 with
/// the server's reason while it is not ready or cannot be reached, so an orchestrator routes
/// to an instance only once it has synced with Torii, and stops when it is gone.
// Several threads: the probe blocks one while the fake Torii answers on the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_only_while_the_server_is_ready() {
    let torii = world().await;
    torii.set_down(true);
    let mut server = Server::start_with(Options {
        config_file: Some(config_file()),
        env: torii_env(&torii),
        ..Options::default()
    })
    .await;
    let url = format!("http://{}/readyz", server.addr);

    // Up, but not synced with Torii: 503, and the probe says why.
    let (code, _, err) = healthcheck(&["--url", &url], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("is not ready: HTTP 503") && err.contains("torii:"),
        "{err}"
    );

    torii.set_down(false);
    wait_ready(&server).await;
    let (code, out, err) = healthcheck(&["--url", &url], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&format!("{url}: ready")), "{out}");

    // Without --url, as in the image: /readyz on the port of server.listen, the wildcard
    // address probed on loopback.
    let mut env = torii_env(&torii);
    env.push((
        "TORII_REALTIME__SERVER__LISTEN".into(),
        format!("0.0.0.0:{}", server.addr.port()),
    ));
    let config = config_file();
    let (code, out, err) = healthcheck(&["--config", config.to_str().unwrap()], &env);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!(
            "http://127.0.0.1:{}/readyz: ready",
            server.addr.port()
        )),
        "{out}"
    );

    // Gone: nothing answers.
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)).await.success());
    let (code, _, err) = healthcheck(&["--url", &url, "--timeout", "1s"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot reach"), "{err}");
}
