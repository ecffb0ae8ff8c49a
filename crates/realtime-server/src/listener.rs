//! The accept loop: every TCP connection, plain HTTP or WebSocket, takes one of the instance's
//! `server.max_connections` slots when it is accepted (past the cap it gets a 503 and is
//! closed). A connection that upgrades to a WebSocket hands its slot to the session, so a
//! socket is counted once from accept to close.
//!
//! HTTP/1.1 is served by hyper with a header read timeout, which also bounds how long an
//! idle keep-alive connection is kept: a client that trickles headers or sits silent cannot
//! hold a slot for long. Each request carries the peer address and the [`ClientIp`] computed
//! from the trusted proxies.
//!
//! A client IP that is not a trusted proxy may hold at most
//! `limits.max_http_connections_per_ip` connections in their HTTP phase (a WebSocket leaves it
//! at the upgrade), so one host cannot take every slot; a request as a whole is bounded by
//! `server.request_timeout` (see `http`).
//!
//! Shutdown has two steps, so that the whole of it is bounded by `server.shutdown_timeout`:
//! when the server starts shutting down, every connection is asked to finish its request and
//! close, while the listener stays open (load balancers probing `/readyz` get a 503 rather
//! than a refused connection); [`Http::close`] then closes the listener and drops every
//! connection still open, whatever state it is in.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::client_ip::{ClientIp, Proxies};
use crate::connections::ConnectionSlot;
use crate::ip_limit::{IpCounter, IpSlot};
use crate::state::App;

/// The connection slot of an HTTP connection, in each of its requests' extensions; the
/// WebSocket upgrade takes it for the session.
#[derive(Debug, Clone, Default)]
pub struct SlotCell(Arc<Mutex<Option<ConnectionSlot>>>);

impl SlotCell {
    /// The connection's slot, for a session that outlives the HTTP connection.
    pub fn take(&self) -> Option<ConnectionSlot> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The running HTTP side of the server.
#[derive(Debug)]
pub struct Http {
    accept: JoinHandle<()>,
    connections: TaskTracker,
    /// Cancelled to drop every connection at once.
    kill: CancellationToken,
}

/// What a connection is served with.
#[derive(Clone)]
struct Shared {
    app: App,
    router: Router,
    proxies: Arc<Proxies>,
    per_ip: IpCounter,
    builder: hyper::server::conn::http1::Builder,
}

/// Starts accepting on `listener` until [`Http::close`].
/// Connections the kernel queues for the accept loop. When many clients reconnect at once (a
/// deploy, a network blip), a short queue drops their SYNs and each retries only after 1, 3,
/// 7, 15 s: the default of 1024 turned a 5 000-client reconnect into half a minute. The
/// kernel caps this at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 8192;

/// Binds the listening socket with a backlog sized for reconnect storms.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's listener does: a restarted server can take its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

pub fn start(listener: TcpListener, router: Router, app: App) -> Http {
    let server = &app.config.server;
    let proxies = Arc::new(Proxies::new(
        &server.trusted_proxies,
        server.client_ip_header,
    ));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(server.header_read_timeout);
    let per_ip = IpCounter::new(app.config.limits.max_http_connections_per_ip);
    let shared = Shared {
        app,
        router,
        proxies,
        per_ip,
        builder,
    };
    let connections = TaskTracker::new();
    let kill = CancellationToken::new();
    // Its handle is kept: closing the listener aborts it; the connections it starts are
    // tracked by `connections`.
    let accept = tokio::spawn(accept_loop(
        listener,
        shared,
        connections.clone(),
        kill.clone(),
    ));
    Http {
        accept,
        connections,
        kill,
    }
}

impl Http {
    /// Waits until every HTTP connection has closed (WebSocket sessions are tracked apart).
    pub async fn drained(&self) {
        self.connections.close();
        self.connections.wait().await;
    }

    /// Closes the listener and drops every connection still open.
    pub async fn close(self) {
        self.accept.abort();
        let _ = self.accept.await;
        self.kill.cancel();
        self.connections.close();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.connections.wait()).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Shared,
    connections: TaskTracker,
    kill: CancellationToken,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let per_ip: Option<IpSlot> = if shared.proxies.trusted(peer.ip()) {
            None
        } else {
            match shared.per_ip.take(peer.ip()) {
                Some(slot) => Some(slot),
                None => {
                    tracing::info!(ip = %peer.ip(), "connection refused: limits.max_http_connections_per_ip");
                    connections.spawn(refuse(
                        stream,
                        429,
                        "this address holds too many connections",
                    ));
                    continue;
                }
            }
        };
        let Some(slot) = shared.app.conns.connections.open() else {
            tracing::debug!(%peer, "connection refused: at server.max_connections");
            connections.spawn(refuse(
                stream,
                503,
                "this server holds its maximum number of connections",
            ));
            continue;
        };
        let shared = shared.clone();
        let kill = kill.clone();
        connections.spawn(async move {
            // Held for the HTTP phase of the connection, given back at close or upgrade.
            let _per_ip = per_ip;
            tokio::select! {
                () = serve(stream, peer, slot, shared) => {}
                () = kill.cancelled() => {}
            }
        });
    }
}

/// Answers a connection over a cap with `status` (`too_many_connections`) and closes it.
async fn refuse(mut stream: TcpStream, status: u16, message: &str) {
    let body = format!(
        r#"{{"error":{{"code":"too_many_connections","message":"{message}","retry_after_ms":1000}}}}"#
    );
    let reason = if status == 429 {
        "Too Many Requests"
    } else {
        "Service Unavailable"
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

async fn serve(stream: TcpStream, peer: SocketAddr, slot: ConnectionSlot, shared: Shared) {
    let cell = SlotCell(Arc::new(Mutex::new(Some(slot))));
    let router = shared.router.clone();
    let proxies = shared.proxies.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let client = proxies.client_ip(peer.ip(), request.headers());
        let extensions = request.extensions_mut();
        extensions.insert(ConnectInfo(peer));
        extensions.insert(ClientIp(client));
        extensions.insert(cell.clone());
        let mut router = router.clone();
        // A router is always ready.
        tower_service::Service::call(&mut router, request)
    });
    let shutdown = shared.app.shutdown.clone();
    let mut builder = shared.builder.clone();
    if shutdown.is_cancelled() {
        // Accepted during the drain: serve one request (a readiness probe, say), then close.
        // Asking hyper for a graceful shutdown before it has read anything would close the
        // connection without an answer.
        builder.keep_alive(false);
    }
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    if !shutdown.is_cancelled() {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "http connection ended");
                }
                return;
            }
            () = shutdown.cancelled() => {}
        }
        // Finish the request in progress, then close; an idle keep-alive connection closes now.
        connection.as_mut().graceful_shutdown();
    }
    if let Err(e) = connection.await {
        tracing::debug!(%peer, error = %e, "http connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reconnect storm larger than the usual default backlog (1024) waits in the kernel's
    /// queue for the accept loop instead of having its SYNs dropped (then retried after 1, 3,
    /// 7 s). Nothing is accepted here: every connection must still complete its handshake.
    #[tokio::test]
    async fn a_burst_of_connections_past_1024_is_queued_not_dropped() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..1500 {
            set.spawn(async move {
                tokio::time::timeout(Duration::from_millis(700), TcpStream::connect(addr)).await
            });
        }
        let mut connected = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(Ok(Ok(stream))) = r {
                connected.push(stream);
            }
        }
        assert_eq!(connected.len(), 1500, "every connection is queued");
        drop(listener);
    }
}
