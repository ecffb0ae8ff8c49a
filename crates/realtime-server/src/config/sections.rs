//! The config sections owned by the server (`[limits]` has a file of its own). `[storage]`
//! belongs to the store crate, `[bus]` to the bus crate.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(super) type Check = Result<(), (String, String)>;

pub(super) fn fail(key: &str, reason: impl Into<String>) -> Check {
    Err((key.to_owned(), reason.into()))
}

/// `[server]`: the listener, connection lifecycle and HTTP behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Origins allowed by CORS and for browser WebSockets; `["*"]` allows any.
    pub cors_origins: Vec<String>,
    /// Most WebSocket connections this instance holds at once.
    pub max_connections: usize,
    /// How long SIGTERM waits for connections to drain before exiting.
    #[serde(with = "realtime_core::duration::serde")]
    pub shutdown_timeout: Duration,
    /// How often the server pings each WebSocket.
    #[serde(with = "realtime_core::duration::serde")]
    pub ping_interval: Duration,
    /// A connection silent for `ping_interval + pong_timeout` is closed (4002).
    #[serde(with = "realtime_core::duration::serde")]
    pub pong_timeout: Duration,
    /// How long a connection opened without a token may take to send `auth` (4401).
    #[serde(with = "realtime_core::duration::serde")]
    pub auth_timeout: Duration,
    /// How long an HTTP client may take to send a request's headers; also how long an idle
    /// keep-alive connection is kept. Slow or silent clients are disconnected.
    #[serde(with = "realtime_core::duration::serde")]
    pub header_read_timeout: Duration,
    /// How long one HTTP request may take as a whole, body included (408 past it); a client
    /// that trickles a body cannot hold a connection.
    #[serde(with = "realtime_core::duration::serde")]
    pub request_timeout: Duration,
    /// Proxies (addresses or CIDRs, e.g. `["10.0.0.0/8"]`) whose `client_ip_header` is
    /// believed for the client address. Empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The header trusted proxies write the client address into: `x-forwarded-for` or
    /// `forwarded` (RFC 7239).
    pub client_ip_header: crate::client_ip::ForwardedHeader,
    /// Serves a demo page at `/demo` that talks to this server: a way to try it from a
    /// browser during development. Off by default: the page is not meant for players, and
    /// anyone who reaches the server could use it.
    pub demo: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            cors_origins: vec!["*".into()],
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(25),
            pong_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
            client_ip_header: crate::client_ip::ForwardedHeader::XForwardedFor,
            demo: false,
        }
    }
}

impl ServerConfig {
    pub(crate) fn validate(&self) -> Check {
        for origin in &self.cors_origins {
            let ok = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/')
                    && origin.parse::<axum::http::HeaderValue>().is_ok());
            if !ok {
                return fail(
                    "server.cors_origins",
                    format!("{origin:?} is not \"*\" or an origin like \"https://game.example\""),
                );
            }
        }
        if self.max_connections == 0 {
            return fail("server.max_connections", "must be at least 1");
        }
        if self.ping_interval < Duration::from_secs(1) {
            return fail("server.ping_interval", "must be at least 1s");
        }
        if self.pong_timeout < Duration::from_millis(100) {
            return fail("server.pong_timeout", "must be at least 100ms");
        }
        if self.auth_timeout.is_zero() {
            return fail("server.auth_timeout", "must be more than 0");
        }
        if self.request_timeout < Duration::from_millis(100) {
            return fail("server.request_timeout", "must be at least 100ms");
        }
        if self.header_read_timeout < Duration::from_millis(100) {
            return fail("server.header_read_timeout", "must be at least 100ms");
        }
        for entry in &self.trusted_proxies {
            if let Err(e) = crate::client_ip::parse_net(entry) {
                return fail("server.trusted_proxies", e.to_string());
            }
        }
        Ok(())
    }

    /// True when any origin is allowed.
    pub fn any_origin(&self) -> bool {
        self.cors_origins.iter().any(|o| o == "*")
    }
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serves `GET /metrics`.
    pub enabled: bool,
    /// Serves it on this address only, instead of on `server.listen`: for a deployment
    /// whose public port should not show counts to anyone who asks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

impl MetricsConfig {
    pub(crate) fn validate(&self, server: &ServerConfig) -> Check {
        if self.listen.is_some_and(|l| l == server.listen) {
            return fail(
                "metrics.listen",
                "must differ from server.listen; leave it out to serve /metrics there",
            );
        }
        Ok(())
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line for log collectors.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter: `info`, `debug`, `info,realtime_server=debug`. `RUST_LOG`, when set,
    /// takes precedence.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

impl LogConfig {
    pub(crate) fn validate(&self) -> Check {
        if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&self.level) {
            return fail("log.level", format!("not a valid filter: {e}"));
        }
        Ok(())
    }
}
