//! Session tokens: JWTs the server mints and verifies, signed with HS256 (a shared secret) or
//! EdDSA (a key pair) from a key ring: the first key signs, every key verifies the tokens its
//! `kid` names, and a retired key verifies only until its `accept_until`. Without `[[auth.keys]]`
//! the ring is the single session secret. Claims: `sub` (the canonical address), `iss`
//! (`torii-realtime`), `iat`, `exp`, `jti`, `world` (so worlds sharing a key cannot take each
//! other's tokens), and `dev: true` on development tokens, which the server refuses unless
//! `[auth] dev_tokens` is on, so a development token can never pass on a server that did not
//! opt in. Tokens of a game's own backend are checked by [`crate::external`] when configured.

use std::path::Path;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use realtime_core::{Address, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::config::{AuthConfig, KeyAlgorithm, SessionKeyConfig};
use crate::external::{self, External};
use crate::secret::load_secret;

/// The `iss` claim of tokens this server mints.
pub const ISSUER: &str = "torii-realtime";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    iat: u64,
    exp: u64,
    jti: String,
    /// The world the token is for, so worlds sharing a key cannot take each other's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    world: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    dev: bool,
    /// The holder may act as a moderator (`token --moderator`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    moderator: bool,
}

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub address: Address,
    /// When the token stops being valid, milliseconds since the epoch (at most
    /// [`MAX_EXPIRY_MS`]).
    pub expires_at_ms: i64,
    /// The token's id (`jti`), by which a moderator can revoke this one session.
    pub jti: Option<String>,
    /// The token carries `moderator: true`.
    pub moderator: bool,
}

/// The latest expiry honoured (9999-12-31T23:59:59Z): later ones are read as this, so an
/// absurd `exp` cannot overflow a clock or a date.
pub const MAX_EXPIRY_MS: i64 = 253_402_300_799_000;

/// A JWT `exp` (seconds since the epoch, possibly fractional) in milliseconds.
pub fn expiry_ms(exp_secs: f64) -> i64 {
    if exp_secs.is_nan() {
        return 0;
    }
    // Saturating float-to-int conversion, then the cap.
    ((exp_secs * 1000.0).floor() as i64).clamp(0, MAX_EXPIRY_MS)
}

/// Refuses a token whose expiry (plus `leeway_ms`) is not after now, to the millisecond:
/// JWT libraries compare whole seconds, which lets a token live up to a second too long.
pub(crate) fn check_expiry(expires_at_ms: i64, leeway_ms: i64) -> Result<(), TokenError> {
    if realtime_core::time::now_ms() >= expires_at_ms.saturating_add(leeway_ms) {
        return Err(TokenError {
            code: ErrorCode::TokenExpired,
            message: "the token has expired; sign in again".into(),
        });
    }
    Ok(())
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

/// A key, secret or key file of `[auth]` that cannot be used, or a token that cannot be
/// signed with the configured key; the message names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

impl From<String> for KeyError {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for KeyError {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

/// One key of the ring.
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    /// Present on the signing key.
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    /// Unix seconds after which tokens this key signed are refused.
    accept_until: Option<u64>,
}

/// Mints and verifies session tokens. Tokens are signed with the first key; a token is
/// verified with the key its `kid` names and only with that key's algorithm, so a token
/// cannot pick its own algorithm (no `alg: none`, no HS256 made with a public key).
pub struct Tokens {
    keys: Vec<Key>,
    validation: Validation,
    dev_tokens: bool,
    external: Option<External>,
    world: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("dev_tokens", &self.dev_tokens)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Builds the service from `[auth]`: the `keys` ring, or else the single session secret
    /// (read, or created, from its file).
    pub fn from_config(config: &AuthConfig) -> Result<Self, KeyError> {
        let external = config
            .external
            .as_ref()
            .map(External::from_config)
            .transpose()?;
        if config.keys.is_empty() {
            let secret = load_secret(config)?;
            return Ok(Self {
                external,
                ..Self::new(&secret, config.dev_tokens)
            });
        }
        let keys = config
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| load_key(i, k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            keys,
            validation: base_validation(),
            dev_tokens: config.dev_tokens,
            external,
            world: None,
        })
    }

    /// A service with one HS256 key and no key id.
    pub fn new(secret: &[u8], dev_tokens: bool) -> Self {
        Self {
            keys: vec![Key {
                kid: None,
                algorithm: Algorithm::HS256,
                encoding: Some(EncodingKey::from_secret(secret)),
                decoding: DecodingKey::from_secret(secret),
                accept_until: None,
            }],
            validation: base_validation(),
            dev_tokens,
            external: None,
            world: None,
        }
    }

    /// Binds minted tokens to `world`, and refuses tokens for any other.
    pub fn for_world(mut self, world: Option<String>) -> Self {
        self.world = world;
        self
    }

    /// Mints a token for `address` valid for `ttl`.
    pub fn mint(&self, address: Address, ttl: Duration, dev: bool) -> Result<String, KeyError> {
        self.mint_with_expiry(address, ttl, dev)
            .map(|(token, _)| token)
    }

    /// [`Tokens::mint`], also returning the expiry the token carries, in milliseconds.
    pub fn mint_with_expiry(
        &self,
        address: Address,
        ttl: Duration,
        dev: bool,
    ) -> Result<(String, i64), KeyError> {
        self.mint_as(address, ttl, dev, false)
    }

    /// [`Tokens::mint_with_expiry`], with `moderator` set on moderators' tokens.
    pub fn mint_as(
        &self,
        address: Address,
        ttl: Duration,
        dev: bool,
        moderator: bool,
    ) -> Result<(String, i64), KeyError> {
        let iat = realtime_core::time::now_secs();
        let claims = Claims {
            sub: address.to_string(),
            iss: ISSUER.into(),
            iat,
            exp: iat + ttl.as_secs().max(1),
            jti: realtime_core::address::hex_digits(&rand::random::<[u8; 16]>()),
            world: self.world.clone(),
            dev,
            moderator,
        };
        let key = self.keys.first().ok_or("no signing key")?;
        let encoding = key
            .encoding
            .as_ref()
            .ok_or("the first key has no private key")?;
        let mut header = Header::new(key.algorithm);
        header.kid = key.kid.clone();
        let expires_at_ms = expiry_ms(claims.exp as f64);
        jsonwebtoken::encode(&header, &claims, encoding)
            .map(|token| (token, expires_at_ms))
            .map_err(|e| KeyError(format!("cannot sign token: {e}")))
    }

    /// Verifies a token and returns who it speaks for.
    pub fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        // A token from the game's own backend is told apart by its issuer, then verified
        // only with that backend's key.
        if let Some(external) = &self.external
            && external::issuer_of(token).as_deref() == Some(external.issuer())
        {
            return external.verify(token);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenError::unauthorized(format!("the token is not valid: {e}")))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == header.kid)
            .ok_or_else(|| TokenError::unauthorized("the token was signed with an unknown key"))?;
        if key
            .accept_until
            .is_some_and(|t| realtime_core::time::now_secs() > t)
        {
            return Err(TokenError::unauthorized(
                "the token was signed with a retired key; sign in again",
            ));
        }
        let mut validation = self.validation.clone();
        validation.algorithms = vec![key.algorithm];
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation).map_err(
            |e| match e.kind() {
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
            },
        )?;
        let claims = data.claims;
        if self.world.is_some() && claims.world != self.world {
            return Err(TokenError::unauthorized("the token is for another world"));
        }
        if claims.dev && !self.dev_tokens {
            return Err(TokenError::unauthorized(
                "development tokens are disabled on this server",
            ));
        }
        let expires_at_ms = expiry_ms(claims.exp as f64);
        check_expiry(expires_at_ms, 0)?;
        let address = claims
            .sub
            .parse::<Address>()
            .map_err(|e| TokenError::unauthorized(format!("the token subject: {e}")))?;
        Ok(Identity {
            address,
            expires_at_ms,
            jti: Some(claims.jti),
            moderator: claims.moderator,
        })
    }
}

fn base_validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "sub", "iss"]);
    // Tokens are minted and checked by this service's own instances; no skew allowance.
    validation.leeway = 0;
    validation
}

fn load_key(i: usize, k: &SessionKeyConfig) -> Result<Key, String> {
    let at =
        |what: &str, e: &dyn std::fmt::Display| format!("auth.keys[{i}] ({}): {what}: {e}", k.kid);
    let read = |p: &Path| std::fs::read(p).map_err(|e| at(&p.display().to_string(), &e));
    let accept_until = k
        .accept_until
        .as_deref()
        .and_then(realtime_core::time::parse_rfc3339_ms)
        .map(|ms| u64::try_from(ms / 1000).unwrap_or(0));
    let (algorithm, encoding, decoding) = match k.algorithm {
        KeyAlgorithm::HS256 => {
            let secret = match (&k.secret, &k.secret_file) {
                (Some(s), _) => s.as_bytes().to_vec(),
                (None, Some(f)) => String::from_utf8_lossy(&read(f)?)
                    .trim()
                    .as_bytes()
                    .to_vec(),
                (None, None) => return Err(at("secret", &"missing")),
            };
            if secret.len() < 32 {
                return Err(at("secret", &"must be at least 32 bytes"));
            }
            (
                Algorithm::HS256,
                Some(EncodingKey::from_secret(&secret)),
                DecodingKey::from_secret(&secret),
            )
        }
        KeyAlgorithm::EdDSA => {
            let public = k
                .public_key_file
                .as_deref()
                .ok_or_else(|| at("public_key_file", &"missing"))?;
            let decoding =
                DecodingKey::from_ed_pem(&read(public)?).map_err(|e| at("public_key_file", &e))?;
            let encoding = match &k.private_key_file {
                Some(p) => Some(
                    EncodingKey::from_ed_pem(&read(p)?).map_err(|e| at("private_key_file", &e))?,
                ),
                None => None,
            };
            (Algorithm::EdDSA, encoding, decoding)
        }
    };
    Ok(Key {
        kid: Some(k.kid.clone()),
        algorithm,
        encoding,
        decoding,
        accept_until,
    })
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
        assert!(id.expires_at_ms >= realtime_core::time::now_ms() + 58_000);
    }

    /// A token whose `exp` second has begun is expired, even though a whole-second
    /// comparison (`exp < now`) still takes it.
    #[test]
    fn expiry_is_compared_to_the_millisecond() {
        let tokens = Tokens::new(SECRET, false);
        // Wait until a few hundred milliseconds into a second.
        while realtime_core::time::now_ms() % 1000 < 300 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let now = realtime_core::time::now_secs();
        let claims = Claims {
            sub: addr().to_string(),
            iss: ISSUER.into(),
            iat: now - 60,
            exp: now,
            jti: "j".into(),
            world: None,
            dev: false,
            moderator: false,
        };
        let key = EncodingKey::from_secret(SECRET);
        let late = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert_eq!(
            tokens.verify(&late).unwrap_err().code,
            ErrorCode::TokenExpired
        );
        assert_eq!(expiry_ms(1.5), 1500);
        assert_eq!(expiry_ms(1e300), MAX_EXPIRY_MS);
        assert_eq!(expiry_ms(-5.0), 0);
    }

    #[test]
    fn tokens_are_bound_to_their_world() {
        let a = Tokens::new(SECRET, false).for_world(Some("0x1".into()));
        let b = Tokens::new(SECRET, false).for_world(Some("0x2".into()));
        let t = a.mint(addr(), Duration::from_secs(60), false).unwrap();
        assert!(a.verify(&t).is_ok());
        assert!(b.verify(&t).unwrap_err().message.contains("another world"));
        let unbound = Tokens::new(SECRET, false)
            .mint(addr(), Duration::from_secs(60), false)
            .unwrap();
        assert!(a.verify(&unbound).is_err());
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

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rt-keys-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn hs(kid: &str, secret: &str, accept_until: Option<&str>) -> SessionKeyConfig {
        SessionKeyConfig {
            kid: kid.into(),
            algorithm: KeyAlgorithm::HS256,
            secret: Some(secret.into()),
            secret_file: None,
            private_key_file: None,
            public_key_file: None,
            accept_until: accept_until.map(str::to_owned),
        }
    }

    fn ring(keys: Vec<SessionKeyConfig>) -> Tokens {
        Tokens::from_config(&AuthConfig {
            keys,
            ..AuthConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn rotation_accepts_the_previous_key_until_its_time() {
        let old_secret = "o".repeat(32);
        let new_secret = "n".repeat(32);
        let before = ring(vec![hs("2026-10", &old_secret, None)]);
        let old_token = before.mint(addr(), Duration::from_secs(60), false).unwrap();
        // Rotated: the new key signs, the old one still verifies until next year.
        let after = ring(vec![
            hs("2026-11", &new_secret, None),
            hs("2026-10", &old_secret, Some("2099-01-01T00:00:00Z")),
        ]);
        assert!(after.verify(&old_token).is_ok());
        let fresh = after.mint(addr(), Duration::from_secs(60), false).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&fresh).unwrap().kid.as_deref(),
            Some("2026-11")
        );
        // Retired: past its time the old key's tokens are refused.
        let retired = ring(vec![
            hs("2026-11", &new_secret, None),
            hs("2026-10", &old_secret, Some("2020-01-01T00:00:00Z")),
        ]);
        let e = retired.verify(&old_token).unwrap_err();
        assert!(e.message.contains("retired"), "{}", e.message);
        // Dropped: an unknown kid.
        let dropped = ring(vec![hs("2026-11", &new_secret, None)]);
        assert!(
            dropped
                .verify(&old_token)
                .unwrap_err()
                .message
                .contains("unknown key")
        );
        // A token without kid is not verified by a ring whose keys all have one.
        let legacy = Tokens::new(old_secret.as_bytes(), false)
            .mint(addr(), Duration::from_secs(60), false)
            .unwrap();
        assert_eq!(
            after.verify(&legacy).unwrap_err().code,
            ErrorCode::Unauthorized
        );
    }

    #[test]
    fn eddsa_keys_sign_and_verify_and_refuse_algorithm_confusion() {
        let d = dir("ed");
        let private = d.join("ed.pem");
        let public = d.join("ed.pub.pem");
        let ok = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&private)
            .status()
            .unwrap()
            .success()
            && std::process::Command::new("openssl")
                .args(["pkey", "-pubout", "-in"])
                .arg(&private)
                .arg("-out")
                .arg(&public)
                .status()
                .unwrap()
                .success();
        assert!(ok, "openssl generates an ed25519 key");
        let key = SessionKeyConfig {
            kid: "ed-1".into(),
            algorithm: KeyAlgorithm::EdDSA,
            secret: None,
            secret_file: None,
            private_key_file: Some(private.clone()),
            public_key_file: Some(public.clone()),
            accept_until: None,
        };
        let signer = ring(vec![key.clone()]);
        let token = signer.mint(addr(), Duration::from_secs(60), false).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().alg,
            Algorithm::EdDSA
        );
        // An instance holding only the public key verifies it.
        let verifier = ring(vec![
            hs("hs", &"h".repeat(32), None),
            SessionKeyConfig {
                private_key_file: None,
                ..key
            },
        ]);
        assert_eq!(verifier.verify(&token).unwrap().address, addr());
        // HS256 "signed" with the public key as the secret, claiming the EdDSA kid: refused.
        let public_pem = std::fs::read(&public).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("ed-1".into());
        let claims = Claims {
            sub: addr().to_string(),
            iss: ISSUER.into(),
            iat: realtime_core::time::now_secs(),
            exp: realtime_core::time::now_secs() + 60,
            jti: "x".into(),
            world: None,
            dev: false,
            moderator: false,
        };
        let forged =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&public_pem)).unwrap();
        assert_eq!(
            verifier.verify(&forged).unwrap_err().code,
            ErrorCode::Unauthorized
        );
        std::fs::remove_dir_all(d).unwrap();
    }
}
