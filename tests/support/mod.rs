//! Harness for black-box tests: starts the real `torii-realtime` binary on 127.0.0.1:0 with
//! a config written for the test, reads its JSON logs, and connects real WebSocket clients.
//!
//! The binary is found at `TORII_REALTIME_BIN`, or next to this test executable's
//! `deps/` directory (`cargo build -p realtime-server` puts it there; scripts/test.sh does).

#![allow(missing_debug_implementations, clippy::unwrap_used)]

pub mod blitz;
pub mod devnet;
pub mod http;
pub mod load;
pub mod metrics;
pub mod moderation;
pub mod pair;
pub mod postgres_server;
pub mod raw;
pub mod redis;
pub mod rpc_proxy;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use realtime_client::{Auth, Client, Connected, EntityUpdate, Event, MessageData, Push};
use serde_json::Value;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique name for a test's files and databases.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Path of the server binary.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("TORII_REALTIME_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let bin = dir.join("torii-realtime");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p realtime-server` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A running server process.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    env: Vec<(String, String)>,
}

/// What to start a server with.
#[derive(Default, Clone)]
pub struct Options {
    /// Extra TOML appended to the generated config (sections not generated below).
    pub toml: String,
    /// `[limits]` keys.
    pub limits: String,
    /// `[server]` keys.
    pub server: String,
    /// Storage URL; default a SQLite file in the test directory.
    pub storage_url: Option<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Reuse this directory (to restart on the same data).
    pub dir: Option<PathBuf>,
    /// Run with this config file instead of a generated one; the listener, storage, secret
    /// and logs are then set through environment overrides.
    pub config_file: Option<PathBuf>,
}

impl Server {
    /// Starts a server with defaults suitable for tests (development tokens on).
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let dir = options
            .dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(unique("realtime_e2e")));
        std::fs::create_dir_all(&dir).expect("test dir");
        let storage = options
            .storage_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/realtime.db", dir.display()));
        // Tests publish fast and open many sockets from one address; a test about rate
        // limits sets its own.
        let mut default_limits = String::new();
        for (key, value) in [
            (
                "publish_",
                "publish_burst = 1000\npublish_per_second = 1000.0\n",
            ),
            (
                "upgrades_per_ip",
                "upgrades_per_ip_burst = 10000\nupgrades_per_ip_per_second = 10000.0\n",
            ),
            (
                "max_unauthenticated_per_ip",
                "max_unauthenticated_per_ip = 10000\n",
            ),
            (
                "max_http_connections_per_ip",
                "max_http_connections_per_ip = 10000\n",
            ),
            (
                "frames_",
                "frames_burst = 100000\nframes_per_second = 100000.0\n",
            ),
        ] {
            if !options.limits.contains(key) {
                default_limits.push_str(value);
            }
        }
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n{default_server}{server}\n\
             [storage]\nurl = \"{storage}\"\n\n\
             [auth]\ndev_tokens = true\nsession_secret_file = \"{dir}/session.key\"\n\n\
             [limits]\n{default_limits}{limits}\n\
             [log]\nformat = \"json\"\nlevel = \"info,realtime_server=debug\"\n\n{toml}",
            server = options.server,
            default_server = if options.server.contains("shutdown_timeout") {
                ""
            } else {
                "shutdown_timeout = \"5s\"\n"
            },
            limits = options.limits,
            toml = options.toml,
            dir = dir.display(),
        );
        if let Some(file) = &options.config_file {
            let mut env = vec![
                (
                    "TORII_REALTIME__SERVER__LISTEN".to_owned(),
                    "127.0.0.1:0".to_owned(),
                ),
                ("TORII_REALTIME__STORAGE__URL".to_owned(), storage),
                (
                    "TORII_REALTIME__AUTH__DEV_TOKENS".to_owned(),
                    "true".to_owned(),
                ),
                (
                    "TORII_REALTIME__AUTH__SESSION_SECRET_FILE".to_owned(),
                    format!("{}/session.key", dir.display()),
                ),
                ("TORII_REALTIME__LOG__FORMAT".to_owned(), "json".to_owned()),
                (
                    "TORII_REALTIME__LOG__LEVEL".to_owned(),
                    "info,realtime_server=debug,torii_plugin=debug".to_owned(),
                ),
                (
                    "TORII_REALTIME__LIMITS__PUBLISH_BURST".to_owned(),
                    "1000".to_owned(),
                ),
                (
                    "TORII_REALTIME__LIMITS__PUBLISH_PER_SECOND".to_owned(),
                    "1000.0".to_owned(),
                ),
                (
                    "TORII_REALTIME__LIMITS__UPGRADES_PER_IP_BURST".to_owned(),
                    "10000".to_owned(),
                ),
                (
                    "TORII_REALTIME__LIMITS__UPGRADES_PER_IP_PER_SECOND".to_owned(),
                    "10000.0".to_owned(),
                ),
            ];
            env.extend(options.env);
            return Self::spawn(dir, file.clone(), env).await;
        }
        let config_path = dir.join("realtime.toml");
        std::fs::write(&config_path, config).expect("write config");
        Self::spawn(dir, config_path, options.env).await
    }

    async fn spawn(dir: PathBuf, config_path: PathBuf, env: Vec<(String, String)>) -> Self {
        let mut child = Command::new(binary())
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .env_remove("RUST_LOG")
            .envs(env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start torii-realtime");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["message"] == "listening"
                    && let Some(addr) = v["addr"].as_str().and_then(|a| a.parse().ok())
                {
                    let _ = addr_tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr =
            tokio::task::spawn_blocking(move || addr_rx.recv_timeout(Duration::from_secs(30)))
                .await
                .expect("join");
        let addr: SocketAddr = match addr {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not report its address; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Self {
            child,
            addr,
            dir,
            config_path,
            logs,
            env,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    /// Mints a development token with the `token` command.
    pub fn token(&self, address: &str) -> String {
        self.token_with(address, &[])
    }

    pub fn token_with(&self, address: &str, extra: &[&str]) -> String {
        let out = Command::new(binary())
            .args(["token", "--config"])
            .arg(&self.config_path)
            .args(["--address", address])
            .args(extra)
            .envs(self.env.iter().cloned())
            .output()
            .expect("run token command");
        assert!(
            out.status.success(),
            "token command failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_owned()
    }

    /// The session secret the server signs with.
    pub fn secret(&self) -> Vec<u8> {
        std::fs::read_to_string(self.dir.join("session.key"))
            .expect("secret file")
            .trim()
            .as_bytes()
            .to_vec()
    }

    /// A client signed in as `address` (token in the Authorization header), past its
    /// `connected` push.
    pub async fn client(&self, address: &str) -> Client {
        let mut c = Client::connect(&self.ws_url(), Auth::Header(self.token(address)))
            .await
            .expect("connect");
        let push = next_push(&mut c).await;
        assert_eq!(push.name(), "connected", "{push:?}");
        c
    }

    /// Log lines so far (JSON objects).
    pub fn logs(&self) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until a log line satisfies `pred`.
    pub async fn wait_for_log(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.logs().into_iter().find(&pred) {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "no matching log line within {timeout:?}; logs:\n{}",
                    self.logs.lock().unwrap().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Kills the process with SIGKILL (no shutdown, no goodbye to Redis or clients) and
    /// waits for it; the value stays, with its logs, and its directory is kept until drop.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Keeps the data directory when this server is dropped, to restart on it.
    pub fn keep_dir(mut self) -> PathBuf {
        let dir = std::mem::take(&mut self.dir);
        let _ = self.child.kill();
        let _ = self.child.wait();
        dir
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The next event, failing the test after 5 s.
pub async fn next_event(c: &mut Client) -> Event {
    c.next_event_within(Duration::from_secs(5))
        .await
        .expect("an event within 5s")
}

/// The next push, failing on anything else.
pub async fn next_push(c: &mut Client) -> Push {
    match next_event(c).await {
        Event::Push(p) => p,
        other => panic!("expected a push, got {other:?}"),
    }
}

/// A `message` push as (channel, seq, message), failing on any other push.
pub fn message_push(p: Push) -> (String, u64, MessageData) {
    match p {
        Push::Message {
            channel,
            seq,
            message,
        } => (channel, seq, message),
        other => panic!("expected a message push, got {other:?}"),
    }
}

/// A `connected` push, failing on any other push.
pub fn connected_push(p: Push) -> Connected {
    match p {
        Push::Connected(c) => c,
        other => panic!("expected a connected push, got {other:?}"),
    }
}

/// An `entity` push, failing on any other push.
pub fn entity_push(p: Push) -> EntityUpdate {
    match p {
        Push::Entity(e) => e,
        other => panic!("expected an entity push, got {other:?}"),
    }
}

/// The next `n` message pushes as (channel, seq, body).
pub async fn messages(c: &mut Client, n: usize) -> Vec<(String, u64, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        let (channel, seq, message) = message_push(next_push(c).await);
        out.push((channel, seq, message.body));
    }
    out
}

/// Asserts that nothing arrives for a short while.
pub async fn quiet(c: &mut Client) {
    if let Some(e) = c.next_event_within(Duration::from_millis(300)).await {
        panic!("unexpected event {e:?}");
    }
}

/// The next event is the close; returns its code.
pub async fn close_code(c: &mut Client) -> Option<u16> {
    loop {
        match next_event(c).await {
            Event::Closed(info) => return info.map(|i| i.code),
            Event::Push(_) | Event::Error(_) | Event::Invalid(_) => continue,
        }
    }
}

/// A Starknet-looking address for test user `n`.
pub fn addr(n: u32) -> String {
    format!("0x{:x}", 0x1000 + n)
}

/// The admin URL of the test Postgres server.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates a fresh Postgres database and returns its URL.
pub async fn fresh_postgres() -> (String, String) {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let db = unique("rt_e2e");
    let mut conn = sqlx::postgres::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("Postgres at {admin} (scripts/services.sh starts it): {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    (format!("{base}/{db}"), db)
}

/// Drops a database made by [`fresh_postgres`].
pub async fn drop_postgres(db: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::postgres::PgConnection::connect(&postgres_admin_url()).await {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await;
    }
}
