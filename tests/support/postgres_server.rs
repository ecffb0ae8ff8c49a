//! A private PostgreSQL cluster per test, so a test can stop, restart and crash its database
//! server: the shared one on 127.0.0.1:5432 serves other tests running at the same time and
//! must never go down.
//!
//! The cluster is made with the machine's own binaries (`/usr/lib/postgresql/*/bin`, the
//! newest version, or `PG_BIN`) in a temporary directory, listens on a free port of
//! 127.0.0.1 with its Unix socket in that directory, and trusts every local connection.
//! `fsync` is off: the tests kill processes, not the machine, so committed data is still in
//! the operating system's cache and survives; only a power loss would need the flushes.
//!
//! PostgreSQL refuses to run as root, so a root test runs its commands as the `postgres`
//! user (with `runuser`) and gives that user the directory.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::unique;

/// A PostgreSQL cluster of one test (stopped and deleted when dropped).
pub struct PostgresServer {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    /// Whether commands run as the `postgres` user (this process is root).
    as_postgres: bool,
}

impl PostgresServer {
    /// Creates a cluster on a free port and starts it.
    pub async fn init() -> Self {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(unique("rt_pg"));
        std::fs::create_dir_all(dir.join("socket")).expect("postgres test dir");
        let as_postgres = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if as_postgres {
            let out = std::process::Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&dir)
                .output()
                .expect("run chown");
            assert!(out.status.success(), "chown: {}", text(&out));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let server = Self {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = server.data();
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .output()
            .await
            .expect("run initdb");
        assert!(out.status.success(), "initdb: {}", text(&out));
        server.start().await;
        server
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// A command of the PostgreSQL binaries, as the `postgres` user when this process is root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// Starts the stopped (or crashed) cluster and waits until it accepts connections; after
    /// a crash it first replays its write-ahead log.
    pub async fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.join("socket").display()
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .output()
            .await
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}\n{}",
            text(&out),
            self.log_tail()
        );
    }

    /// Stops the cluster the way an operator restarting it does (`pg_ctl stop -m fast`):
    /// open sessions are ended and their transactions rolled back.
    pub async fn stop(&self) {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .output()
            .await
            .expect("run pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop: {}\n{}",
            text(&out),
            self.log_tail()
        );
    }

    /// Stops and starts again.
    pub async fn restart(&self) {
        self.stop().await;
        self.start().await;
    }

    /// Kills every process of the cluster with SIGKILL, as a crash of the database server
    /// would, and waits until they are gone; [`PostgresServer::start`] then recovers.
    pub async fn kill(&self) {
        let Some(postmaster) = self.postmaster_pid() else {
            panic!("postgres is not running\n{}", self.log_tail());
        };
        // The postmaster's children would outlive it for a moment and keep its shared
        // memory: a new postmaster refuses to start until they are gone, so they die too.
        let mut pids = children(postmaster);
        pids.push(postmaster);
        for pid in &pids {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while pids.iter().any(|p| alive(*p)) {
            assert!(Instant::now() < deadline, "postgres processes did not die");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A dead postmaster stays a zombie until init reaps it, and a new one takes a zombie
        // named in `postmaster.pid` for a running server: wait for the reaping, and past a
        // few seconds remove the stale lock file (every process of the cluster is dead).
        let reaped = Instant::now() + Duration::from_secs(5);
        while Path::new(&format!("/proc/{postmaster}")).exists() {
            if Instant::now() > reaped {
                let _ = std::fs::remove_file(self.data().join("postmaster.pid"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the cluster (see [`PostgresServer::kill`]) and starts it again: crash recovery.
    pub async fn crash(&self) {
        self.kill().await;
        self.start().await;
    }

    /// The postmaster's process id, from the first line of `postmaster.pid`, if it runs.
    fn postmaster_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()?;
        alive(pid).then_some(pid)
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(30);
        format!("postgres log (tail):\n{}", lines[from..].join("\n"))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.postmaster_pid().is_some() {
            let mut stop = std::process::Command::new(if self.as_postgres {
                PathBuf::from("runuser")
            } else {
                self.bin.join("pg_ctl")
            });
            if self.as_postgres {
                stop.args(["-u", "postgres", "--"])
                    .arg(self.bin.join("pg_ctl"));
            }
            let _ = stop
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "-t", "30", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory of the newest installed PostgreSQL's binaries, or `PG_BIN`.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("PostgreSQL binaries under /usr/lib/postgresql/*/bin (or set PG_BIN)")
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the command name, which is in parentheses.
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|s| s != "Z")
        })
        .unwrap_or(false)
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let parent = pid.to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().nth(1).map(|p| p == parent)
                })
                .unwrap_or(false)
        })
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
