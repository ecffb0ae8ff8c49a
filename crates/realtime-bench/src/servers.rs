//! Starting the servers under test: torii-realtime (this repository's binary) with a benchmark
//! configuration, and the Bun + Hono peer. Each runs as its own process so its CPU and memory
//! can be read from `/proc`, and is killed when dropped.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The session secret of benchmark servers; tokens are minted with it in the generator.
pub const SECRET: &str = "realtime-bench-secret-not-for-production-0123456789";

/// A running server process.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub target: Target,
    _dir: TempDir,
}

/// Where and what a server is: all a client needs to join it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Realtime,
    Peer,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> std::io::Result<Self> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("realtime-bench-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Where the storage of a torii-realtime run lives.
#[derive(Debug, Clone)]
pub enum Storage {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A Postgres database; every run uses its own channel names.
    Postgres(String),
}

/// Starts torii-realtime with limits opened up for load (one client IP, many addresses).
pub async fn start_realtime(
    binary: &Path,
    storage: &Storage,
    extra_toml: &str,
) -> Result<Server, String> {
    let dir = TempDir::new("rt").map_err(|e| e.to_string())?;
    let addr = free_port().map_err(|e| e.to_string())?;
    let url = match storage {
        Storage::Sqlite => format!("sqlite://{}/realtime.db", dir.0.display()),
        Storage::Postgres(url) => url.clone(),
    };
    let config = format!(
        "[server]\nlisten = \"{addr}\"\nmax_connections = 100000\nshutdown_timeout = \"1s\"\n\n\
         [storage]\nurl = \"{url}\"\n\n\
         [auth]\nsession_secret = \"{SECRET}\"\ndev_tokens = true\n\n\
         [limits]\npublish_burst = 1000000\npublish_per_second = 1000000.0\n\
         read_burst = 1000000\nread_per_second = 1000000.0\n\
         upgrades_per_ip_burst = 1000000\nupgrades_per_ip_per_second = 1000000.0\n\
         max_unauthenticated_per_ip = 100000\nmax_http_connections_per_ip = 100000\n\
         frames_burst = 1000000\nframes_per_second = 1000000.0\n\n\
         [log]\nlevel = \"warn\"\n\n{extra_toml}"
    );
    let path = dir.0.join("realtime.toml");
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    let child = Command::new(binary)
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start {}: {e}", binary.display()))?;
    let server = Server {
        child,
        target: Target {
            addr,
            kind: Kind::Realtime,
        },
        _dir: dir,
    };
    // Ready, not just alive: with `[torii]`, the first sync must be done.
    wait_healthy(addr, "/readyz").await?;
    Ok(server)
}

/// Starts the Bun + Hono peer (`MODE=native`, `PERSIST=sqlite`) from `script` with `bun`.
pub async fn start_peer(bun: &Path, script: &Path) -> Result<Server, String> {
    let dir = TempDir::new("peer").map_err(|e| e.to_string())?;
    let addr = free_port().map_err(|e| e.to_string())?;
    let child = Command::new(bun)
        .arg(script)
        .env("PORT", addr.port().to_string())
        .env("MODE", "native")
        .env("PERSIST", "sqlite")
        .env("DB_PATH", dir.0.join("bun-chat.db"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start {}: {e}", bun.display()))?;
    let server = Server {
        child,
        target: Target {
            addr,
            kind: Kind::Peer,
        },
        _dir: dir,
    };
    wait_healthy(addr, "/health").await?;
    Ok(server)
}

async fn wait_healthy(addr: SocketAddr, path: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http_get(addr, path).await.is_ok_and(|s| s == 200) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no healthy answer from {addr}{path} within 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The status code of a plain GET.
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await?;
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("not HTTP"))
}
