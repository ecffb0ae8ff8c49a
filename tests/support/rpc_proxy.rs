//! A Starknet JSON-RPC endpoint in front of the devnet that can be told to fail the way
//! hosted providers do (HTTP 429, internal errors, out-of-range answers), so tests can tell
//! "the node did not answer" from "the account refused".

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::http;

/// How the proxy answers `starknet_call`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Ask the devnet.
    Forward = 0,
    /// HTTP 429 Too Many Requests.
    RateLimited = 1,
    /// JSON-RPC -32603 Internal error.
    InternalError = 2,
    /// A JSON-RPC error saying a value is out of range.
    OutOfRange = 3,
}

pub struct RpcProxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RpcProxy {
    /// Starts forwarding to the devnet at `upstream` (its host and port).
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mode = Arc::new(AtomicU8::new(Mode::Forward as u8));
        let calls = Arc::new(AtomicUsize::new(0));
        let (m, c) = (mode.clone(), calls.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, upstream, m.clone(), c.clone()));
            }
        });
        Self {
            addr,
            mode,
            calls,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/rpc", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// `starknet_call` requests seen so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    stream: TcpStream,
    upstream: SocketAddr,
    mode: Arc<AtomicU8>,
    calls: Arc<AtomicUsize>,
) {
    let mut stream = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match stream.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if first {
                first = false;
                continue;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.trim().eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let is_call = request["method"] == "starknet_call";
        if is_call {
            calls.fetch_add(1, Ordering::SeqCst);
        }
        let mode = mode.load(Ordering::SeqCst);
        let (status, answer) = match mode {
            m if !is_call || m == Mode::Forward as u8 => {
                (200, http::post_json(upstream, "/rpc", &request).await.body)
            }
            m if m == Mode::RateLimited as u8 => (429, "Too Many Requests".to_owned()),
            m if m == Mode::InternalError as u8 => (
                200,
                json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32603, "message": "Internal error"}}).to_string(),
            ),
            _ => (
                200,
                json!({"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32602, "message": "Invalid params: felt value out of range"}}).to_string(),
            ),
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
