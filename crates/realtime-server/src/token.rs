//! Session tokens: HS256 JWTs the server mints and verifies with one secret. Claims: `sub`
//! (the canonical address), `iss` (`torii-realtime`), `iat`, `exp`, `jti`, and `dev: true`
//! on development tokens, which the server refuses unless `[auth] dev_tokens` is on, so a
//! development token can never pass on a server that did not opt in.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use realtime_core::{Address, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;

/// The `iss` claim of tokens this server mints.
pub const ISSUER: &str = "torii-realtime";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    iat: u64,
    exp: u64,
    jti: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dev: bool,
}

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub address: Address,
    /// When the token stops being valid, seconds since the epoch.
    pub expires_at: u64,
}

/// Why a token was refused: `unauthorized` or `token_expired`, with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub code: ErrorCode,
    pub message: String,
}

impl TokenError {
    fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::Unauthorized,
            message: message.into(),
        }
    }
}

/// Mints and verifies session tokens.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    dev_tokens: bool,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("dev_tokens", &self.dev_tokens)
            .finish_non_exhaustive()
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Tokens {
    /// Builds the service from `[auth]`, reading (or creating) the secret file.
    pub fn from_config(config: &AuthConfig) -> Result<Self, String> {
        let secret = load_secret(config)?;
        Ok(Self::new(&secret, config.dev_tokens))
    }

    pub fn new(secret: &[u8], dev_tokens: bool) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        // Tokens are minted and checked by this service's own instances; no skew allowance.
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            dev_tokens,
        }
    }

    /// Mints a token for `address` valid for `ttl`.
    pub fn mint(&self, address: Address, ttl: Duration, dev: bool) -> Result<String, String> {
        let iat = now_secs();
        let claims = Claims {
            sub: address.to_string(),
            iss: ISSUER.into(),
            iat,
            exp: iat + ttl.as_secs().max(1),
            jti: hex(&rand::random::<[u8; 16]>()),
            dev,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| format!("cannot sign token: {e}"))
    }

    /// Verifies a token and returns who it speaks for.
    pub fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError {
                    code: ErrorCode::TokenExpired,
                    message: "the token has expired; sign in again".into(),
                },
                ErrorKind::InvalidSignature => {
                    TokenError::unauthorized("the token signature is not valid")
                }
                ErrorKind::InvalidIssuer => {
                    TokenError::unauthorized("the token was not issued by this service")
                }
                ErrorKind::InvalidAlgorithm => {
                    TokenError::unauthorized("the token uses an algorithm this server refuses")
                }
                _ => TokenError::unauthorized(format!("the token is not valid: {e}")),
            })?;
        let claims = data.claims;
        if claims.dev && !self.dev_tokens {
            return Err(TokenError::unauthorized(
                "development tokens are disabled on this server",
            ));
        }
        let address = claims
            .sub
            .parse::<Address>()
            .map_err(|e| TokenError::unauthorized(format!("the token subject: {e}")))?;
        Ok(Identity {
            address,
            expires_at: claims.exp,
        })
    }
}

/// The secret: inline, or from the file, which is created with a random secret when missing.
pub fn load_secret(config: &AuthConfig) -> Result<Vec<u8>, String> {
    if let Some(secret) = &config.session_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = &config.session_secret_file;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let secret = text.trim();
            if secret.len() < 32 {
                return Err(format!(
                    "auth.session_secret_file {}: the secret must be at least 32 bytes",
                    path.display()
                ));
            }
            Ok(secret.as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_secret(path),
        Err(e) => Err(format!("auth.session_secret_file {}: {e}", path.display())),
    }
}

fn create_secret(path: &Path) -> Result<Vec<u8>, String> {
    let fail = |e: std::io::Error| format!("auth.session_secret_file {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let secret = hex(&rand::random::<[u8; 32]>());
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes()).map_err(fail)?;
            tracing::info!(file = %path.display(), "created a new session secret");
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path)
            .map(|s| s.trim().as_bytes().to_vec())
            .map_err(fail),
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn addr() -> Address {
        "0xabc".parse().unwrap()
    }

    #[test]
    fn minted_tokens_verify_with_canonical_subject() {
        let tokens = Tokens::new(SECRET, false);
        let t = tokens.mint(addr(), Duration::from_secs(60), false).unwrap();
        let id = tokens.verify(&t).unwrap();
        assert_eq!(id.address, addr());
        assert!(id.expires_at >= now_secs() + 59);
    }

    #[test]
    fn dev_tokens_need_the_switch() {
        let on = Tokens::new(SECRET, true);
        let t = on.mint(addr(), Duration::from_secs(60), true).unwrap();
        assert!(on.verify(&t).is_ok());
        let off = Tokens::new(SECRET, false);
        let e = off.verify(&t).unwrap_err();
        assert_eq!(e.code, ErrorCode::Unauthorized);
        assert!(e.message.contains("development"), "{}", e.message);
    }

    #[test]
    fn other_secret_and_garbage_are_refused() {
        let t = Tokens::new(SECRET, false)
            .mint(addr(), Duration::from_secs(60), false)
            .unwrap();
        let other = Tokens::new(b"another secret of thirty-two bytes!", false);
        assert_eq!(other.verify(&t).unwrap_err().code, ErrorCode::Unauthorized);
        assert_eq!(
            other.verify("not.a.jwt").unwrap_err().code,
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn secret_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("rt-secret-{}", std::process::id()));
        let config = AuthConfig {
            session_secret_file: dir.join("nested/session.key"),
            ..AuthConfig::default()
        };
        let first = load_secret(&config).unwrap();
        let second = load_secret(&config).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&config.session_secret_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
