//! The config sections owned by the server (`[limits]` has a file of its own). `[storage]`
//! belongs to the store crate.

use std::net::SocketAddr;
use std::path::PathBuf;
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
                return fail("server.trusted_proxies", e);
            }
        }
        Ok(())
    }

    /// True when any origin is allowed.
    pub fn any_origin(&self) -> bool {
        self.cors_origins.iter().any(|o| o == "*")
    }
}

/// Which fan-out implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// In-process: one instance.
    Memory,
}

/// `[bus]`: fan-out between instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    pub kind: BusKind,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: BusKind::Memory,
        }
    }
}

/// `[auth]`: session tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HS256 secret for session tokens, at least 32 bytes. Prefer `session_secret_file` or
    /// the `TORII_REALTIME__AUTH__SESSION_SECRET` variable to writing it here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_secret: Option<String>,
    /// File holding the secret; created with a random secret (mode 0600) when missing and
    /// `session_secret` is not set.
    pub session_secret_file: PathBuf,
    /// Lifetime of tokens minted by the `token` command.
    #[serde(with = "realtime_core::duration::serde")]
    pub session_ttl: Duration,
    /// Allow development tokens: the `token` command mints them, and the server accepts them.
    /// Never enable in production: anyone with the secret file can speak as any address.
    pub dev_tokens: bool,
    /// Addresses that pass the `admin` channel policy.
    pub admins: Vec<realtime_core::Address>,
    /// Signing keys with ids, for rotation. When set, tokens are signed with the first key
    /// and verified with the key their `kid` names; `session_secret` is then not used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<SessionKeyConfig>,
    /// Tokens from the game's own session backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalAuthConfig>,
    /// Wallet sign-in with SNIP-12 challenges checked by the account contract.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starknet: Option<StarknetAuthConfig>,
}

/// Algorithm of a session key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// HMAC-SHA256 with a shared secret.
    HS256,
    /// Ed25519 signatures: instances that only verify need the public key alone.
    EdDSA,
}

/// One `[[auth.keys]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionKeyConfig {
    /// Key id, written into each token's header.
    pub kid: String,
    pub algorithm: KeyAlgorithm,
    /// HS256: the secret (≥ 32 bytes), inline or from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// EdDSA: PEM files; the private key is needed only on the key that signs (the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
    /// A retired key: tokens it signed are accepted until this instant (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_until: Option<String>,
}

/// `[auth.external]`: accept tokens a game's own session backend issues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalAuthConfig {
    /// The `iss` those tokens carry.
    pub issuer: String,
    /// The `aud` they must carry.
    pub audience: String,
    /// Their algorithm (`HS256`, `RS256`, `ES256`, `EdDSA`…); with `jwks_file`, each key's
    /// own `alg` is used when present.
    #[serde(default)]
    pub algorithm: Option<jsonwebtoken::Algorithm>,
    /// HS algorithms: the shared secret, inline or from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// RSA, EC or Ed25519 public key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
    /// A JWKS document; keys are chosen by the token's `kid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    /// The claim holding the player's Starknet address.
    #[serde(default = "default_address_claim")]
    pub address_claim: String,
    /// Clock skew allowed on `exp`, since another system issues the tokens.
    #[serde(default = "default_leeway", with = "realtime_core::duration::serde")]
    pub leeway: Duration,
}

fn default_address_claim() -> String {
    "sub".into()
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

/// `[auth.starknet]`: sign in with a Starknet wallet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StarknetAuthConfig {
    /// Starknet JSON-RPC endpoint used to ask accounts `is_valid_signature`.
    pub rpc_url: String,
    /// SNIP-12 domain name (a short string, ≤ 31 ASCII characters), e.g. the world's name.
    pub domain_name: String,
    /// SNIP-12 domain version.
    #[serde(default = "default_domain_version")]
    pub domain_version: String,
    /// Chain id as a short string: `SN_MAIN`, `SN_SEPOLIA`, or a devnet's.
    pub chain_id: String,
    /// The sentence shown in the wallet; defaults to "Sign in to chat in DOMAIN_NAME".
    #[serde(default)]
    pub statement: Option<String>,
    /// How long a challenge may be answered.
    #[serde(
        default = "default_challenge_ttl",
        with = "realtime_core::duration::serde"
    )]
    pub challenge_ttl: Duration,
    /// Timeout of one RPC call.
    #[serde(
        default = "default_rpc_timeout",
        with = "realtime_core::duration::serde"
    )]
    pub rpc_timeout: Duration,
    /// Challenge and verify requests one client IP may make in a burst…
    #[serde(default = "default_ip_burst")]
    pub per_ip_burst: u32,
    /// …and per second, sustained.
    #[serde(default = "default_ip_rate")]
    pub per_ip_per_second: f64,
}

fn default_domain_version() -> String {
    "1".into()
}
fn default_challenge_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_rpc_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_ip_burst() -> u32 {
    20
}
fn default_ip_rate() -> f64 {
    1.0
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_secret: None,
            session_secret_file: PathBuf::from("./data/session.key"),
            session_ttl: Duration::from_secs(24 * 3600),
            dev_tokens: false,
            admins: Vec::new(),
            keys: Vec::new(),
            external: None,
            starknet: None,
        }
    }
}

impl AuthConfig {
    pub(crate) fn validate(&self) -> Check {
        if let Some(secret) = &self.session_secret
            && secret.len() < 32
        {
            return fail(
                "auth.session_secret",
                "must be at least 32 bytes (e.g. `openssl rand -hex 32`)",
            );
        }
        if self.session_ttl < Duration::from_secs(1) {
            return fail("auth.session_ttl", "must be at least 1s");
        }
        for (i, k) in self.keys.iter().enumerate() {
            let key = format!("auth.keys[{i}]");
            if k.kid.is_empty() || self.keys[..i].iter().any(|o| o.kid == k.kid) {
                return fail(&key, "every key needs a distinct kid");
            }
            if let Some(t) = &k.accept_until
                && realtime_core::time::parse_rfc3339_ms(t).is_none()
            {
                return fail(
                    &format!("{key}.accept_until"),
                    "write it as 2026-12-31T00:00:00Z",
                );
            }
            match k.algorithm {
                KeyAlgorithm::HS256 => {
                    if k.secret.is_none() == k.secret_file.is_none() {
                        return fail(
                            &key,
                            "an HS256 key needs exactly one of secret, secret_file",
                        );
                    }
                    if k.secret.as_ref().is_some_and(|s| s.len() < 32) {
                        return fail(&format!("{key}.secret"), "must be at least 32 bytes");
                    }
                }
                KeyAlgorithm::EdDSA => {
                    if k.public_key_file.is_none() {
                        return fail(&key, "an EdDSA key needs public_key_file");
                    }
                    if i == 0 && k.private_key_file.is_none() {
                        return fail(
                            &key,
                            "the first key signs tokens: it needs private_key_file",
                        );
                    }
                }
            }
            if i == 0 && k.accept_until.is_some() {
                return fail(
                    &format!("{key}.accept_until"),
                    "the first key signs tokens: it cannot be retired",
                );
            }
        }
        if let Some(x) = &self.external {
            if x.issuer == crate::token::ISSUER {
                return fail(
                    "auth.external.issuer",
                    "must differ from this server's own issuer",
                );
            }
            let sources = [
                x.secret.is_some(),
                x.secret_file.is_some(),
                x.public_key_file.is_some(),
                x.jwks_file.is_some(),
            ];
            if sources.iter().filter(|s| **s).count() != 1 {
                return fail(
                    "auth.external",
                    "give exactly one of secret, secret_file, public_key_file, jwks_file",
                );
            }
            if x.secret.as_ref().is_some_and(|s| s.len() < 32) {
                return fail("auth.external.secret", "must be at least 32 bytes");
            }
            if x.secret.is_some() && x.secret == self.session_secret {
                return fail(
                    "auth.external.secret",
                    "must differ from auth.session_secret",
                );
            }
            if x.jwks_file.is_none() && x.algorithm.is_none() {
                return fail(
                    "auth.external.algorithm",
                    "required unless jwks_file is given",
                );
            }
        }
        if let Some(s) = &self.starknet {
            // The RPC node's answer is the proof of a signature: it must come over TLS unless
            // the node runs on this host.
            if !super::urls::is_https_or_local_http(&s.rpc_url) {
                return fail(
                    "auth.starknet.rpc_url",
                    "must be an https:// URL (plain http:// only for a node on this host: \
                     localhost, 127.0.0.0/8 or [::1])",
                );
            }
            let domain = realtime_auth::Domain {
                name: s.domain_name.clone(),
                version: s.domain_version.clone(),
                chain_id: s.chain_id.clone(),
            };
            if let Err(e) = domain.validate() {
                return fail("auth.starknet", e.to_string());
            }
            if !(s.per_ip_per_second > 0.0 && s.per_ip_per_second.is_finite())
                || s.per_ip_burst == 0
            {
                return fail(
                    "auth.starknet.per_ip_per_second",
                    "burst and rate must be above 0",
                );
            }
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
