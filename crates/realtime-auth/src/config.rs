//! `[auth]` of the configuration file: session keys, external tokens, wallet sign-in. The
//! server reads the file; these sections and their rules belong to identity.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A setting of `[auth]` that breaks a rule: its dotted key and why.
pub use realtime_core::setting::SettingError as ConfigError;
use realtime_core::setting::refuse as fail;

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
    pub fn validate(&self) -> Result<(), ConfigError> {
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
            if !crate::rpc::is_https_or_local_http(&s.rpc_url) {
                return fail(
                    "auth.starknet.rpc_url",
                    "must be an https:// URL (plain http:// only for a node on this host: \
                     localhost, 127.0.0.0/8 or [::1])",
                );
            }
            let domain = crate::Domain {
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
