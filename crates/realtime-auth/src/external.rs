//! Tokens issued by a game's own session backend (`[auth.external]`): verified with the
//! backend's key (an HS secret, an RSA/EC/Ed25519 public key in PEM, or a JWKS file), bound
//! to the configured issuer and audience, and read for the Starknet address in a configured
//! claim. Only the configured algorithm (or, with JWKS, the key's own) is accepted.

use std::collections::HashMap;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use realtime_core::{Address, ErrorCode};
use serde_json::Value;

use crate::config::ExternalAuthConfig;
use crate::token::{Identity, TokenError, check_expiry, expiry_ms};

enum Keys {
    One(Algorithm, DecodingKey),
    /// kid → (algorithm, key).
    Set(HashMap<String, (Algorithm, DecodingKey)>),
}

/// Verifier of external tokens.
pub struct External {
    issuer: String,
    audience: String,
    claim: String,
    keys: Keys,
    leeway: u64,
}

impl std::fmt::Debug for External {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("External")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

fn unauthorized(message: impl Into<String>) -> TokenError {
    TokenError {
        code: ErrorCode::Unauthorized,
        message: message.into(),
    }
}

impl External {
    pub fn from_config(c: &ExternalAuthConfig) -> Result<Self, crate::token::KeyError> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| format!("auth.external: {}: {e}", p.display()))
        };
        let keys = if let Some(path) = &c.jwks_file {
            let set: JwkSet = serde_json::from_slice(&read(path)?)
                .map_err(|e| format!("auth.external.jwks_file: {e}"))?;
            let mut keys = HashMap::new();
            for jwk in &set.keys {
                let Some(kid) = jwk.common.key_id.clone() else {
                    continue;
                };
                let alg = match jwk.common.key_algorithm {
                    Some(a) => a.to_string().parse::<Algorithm>().map_err(|_| {
                        format!("auth.external.jwks_file: key {kid}: algorithm {a}")
                    })?,
                    None => c.algorithm.ok_or_else(|| {
                        format!("auth.external.jwks_file: key {kid} has no alg; set auth.external.algorithm")
                    })?,
                };
                let key = DecodingKey::from_jwk(jwk)
                    .map_err(|e| format!("auth.external.jwks_file: key {kid}: {e}"))?;
                keys.insert(kid, (alg, key));
            }
            Keys::Set(keys)
        } else {
            let alg = c
                .algorithm
                .ok_or("auth.external.algorithm is required without jwks_file")?;
            let key = match alg {
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                    let secret = match (&c.secret, &c.secret_file) {
                        (Some(s), _) => s.as_bytes().to_vec(),
                        (None, Some(f)) => String::from_utf8_lossy(&read(f)?)
                            .trim()
                            .as_bytes()
                            .to_vec(),
                        (None, None) => {
                            return Err(
                                "auth.external: an HS algorithm needs secret or secret_file".into(),
                            );
                        }
                    };
                    if secret.len() < 32 {
                        return Err("auth.external: the secret must be at least 32 bytes".into());
                    }
                    DecodingKey::from_secret(&secret)
                }
                _ => {
                    let path = c.public_key_file.as_deref().ok_or(
                        "auth.external: this algorithm needs public_key_file or jwks_file",
                    )?;
                    let pem = read(path)?;
                    let key = match alg {
                        Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
                        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
                        _ => DecodingKey::from_rsa_pem(&pem),
                    };
                    key.map_err(|e| format!("auth.external.public_key_file: {e}"))?
                }
            };
            Keys::One(alg, key)
        };
        Ok(Self {
            issuer: c.issuer.clone(),
            audience: c.audience.clone(),
            claim: c.address_claim.clone(),
            keys,
            leeway: c.leeway.as_secs(),
        })
    }

    /// The issuer this verifier takes tokens from.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| unauthorized(format!("the token is not valid: {e}")))?;
        let (alg, key) = match &self.keys {
            Keys::One(alg, key) => (*alg, key),
            Keys::Set(keys) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| unauthorized("the token names no key (kid)"))?;
                let (alg, key) = keys
                    .get(kid)
                    .ok_or_else(|| unauthorized("the token was signed with an unknown key"))?;
                (*alg, key)
            }
        };
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<HashMap<String, Value>>(token, key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError {
                    code: ErrorCode::TokenExpired,
                    message: "the token has expired; sign in again".into(),
                },
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    unauthorized("the token is for another audience")
                }
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    unauthorized("the token was issued by someone else")
                }
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                    unauthorized("the token uses an algorithm this server refuses")
                }
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                    unauthorized("the token is not valid yet (nbf is in the future)")
                }
                _ => unauthorized(format!("the token is not valid: {e}")),
            })?;
        let claims = data.claims;
        let leeway_ms = i64::try_from(self.leeway.saturating_mul(1000)).unwrap_or(i64::MAX);
        let seconds = |name: &str| claims.get(name).and_then(Value::as_f64);
        if let Some(iat) = seconds("iat")
            && expiry_ms(iat) > realtime_core::time::now_ms().saturating_add(leeway_ms)
        {
            return Err(unauthorized(
                "the token was issued in the future (iat); check the issuer's clock",
            ));
        }
        let expires_at_ms = expiry_ms(seconds("exp").unwrap_or(0.0));
        check_expiry(expires_at_ms, leeway_ms)?;
        let address = claims
            .get(&self.claim)
            .and_then(Value::as_str)
            .ok_or_else(|| unauthorized(format!("the token has no {} claim", self.claim)))?
            .parse::<Address>()
            .map_err(|e| unauthorized(format!("the {} claim: {e}", self.claim)))?;
        // The session lives as long as the token is accepted: to `exp` plus the leeway.
        Ok(Identity {
            address,
            expires_at_ms: expires_at_ms
                .saturating_add(leeway_ms)
                .min(crate::token::MAX_EXPIRY_MS),
            jti: claims.get("jti").and_then(Value::as_str).map(str::to_owned),
            moderator: claims.get("moderator").and_then(Value::as_bool) == Some(true),
        })
    }
}

/// The unverified `iss` of a token, to pick the verifier.
pub fn issuer_of(token: &str) -> Option<String> {
    jsonwebtoken::dangerous::insecure_decode::<HashMap<String, Value>>(token)
        .ok()?
        .claims
        .get("iss")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;
    use crate::config::AuthConfig;
    use crate::token::Tokens;

    const ISS: &str = "https://auth.game.example";
    const AUD: &str = "torii-realtime";
    const SECRET: &str = "a shared secret of at least thirty-two bytes";
    const PLAYER: &str = "0xabc";

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn config() -> ExternalAuthConfig {
        ExternalAuthConfig {
            issuer: ISS.into(),
            audience: AUD.into(),
            algorithm: Some(Algorithm::HS256),
            secret: Some(SECRET.into()),
            secret_file: None,
            public_key_file: None,
            jwks_file: None,
            address_claim: "starknet_address".into(),
            leeway: Duration::from_secs(0),
        }
    }

    fn tokens(external: ExternalAuthConfig) -> Tokens {
        Tokens::from_config(&AuthConfig {
            session_secret: Some("s".repeat(40)),
            external: Some(external),
            ..AuthConfig::default()
        })
        .unwrap()
    }

    fn claims(extra: Value) -> Value {
        let mut c = json!({"iss": ISS, "aud": AUD, "exp": now() + 60, "sub": "user-7", "starknet_address": PLAYER});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    fn hs(claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn a_backend_token_signs_in_its_address() {
        let t = tokens(config());
        let id = t.verify(&hs(&claims(json!({})))).unwrap();
        assert_eq!(id.address, PLAYER.parse().unwrap());
        // This server's own tokens still work beside them.
        let own = t
            .mint(PLAYER.parse().unwrap(), Duration::from_secs(60), false)
            .unwrap();
        assert!(t.verify(&own).is_ok());
    }

    #[test]
    fn audience_issuer_claim_and_expiry_are_enforced() {
        let t = tokens(config());
        let code = |token: String| t.verify(&token).unwrap_err();
        let e = code(hs(&claims(json!({"aud": "someone-else"}))));
        assert!(e.message.contains("audience"), "{}", e.message);
        let e = code(hs(&claims(json!({"iss": "https://evil.example"}))));
        assert_eq!(e.code, ErrorCode::Unauthorized);
        let e = code(hs(&claims(json!({"starknet_address": null}))));
        assert!(e.message.contains("starknet_address"), "{}", e.message);
        let e = code(hs(&claims(json!({"starknet_address": "alice"}))));
        assert_eq!(e.code, ErrorCode::Unauthorized);
        let e = code(hs(&claims(json!({"exp": now() - 10}))));
        assert_eq!(e.code, ErrorCode::TokenExpired);
        let wrong_key = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(json!({})),
            &EncodingKey::from_secret(b"not the backend's secret at all, no"),
        )
        .unwrap();
        assert_eq!(code(wrong_key).code, ErrorCode::Unauthorized);
    }

    /// `nbf` and `iat` in the future (past the leeway) are refused; within it, accepted.
    #[test]
    fn not_before_and_issued_at_are_checked() {
        let skewed = ExternalAuthConfig {
            leeway: Duration::from_secs(30),
            ..config()
        };
        let t = tokens(skewed);
        let leeway = 30;
        let e = t
            .verify(&hs(&claims(json!({"nbf": now() + leeway + 60}))))
            .unwrap_err();
        assert!(e.message.contains("not valid yet"), "{}", e.message);
        let e = t
            .verify(&hs(&claims(json!({"iat": now() + leeway + 60}))))
            .unwrap_err();
        assert!(e.message.contains("issued in the future"), "{}", e.message);
        let skew = now() + 10;
        assert!(
            t.verify(&hs(&claims(json!({"nbf": skew, "iat": skew}))))
                .is_ok()
        );
        assert!(
            t.verify(&hs(&claims(json!({"nbf": now() - 60, "iat": now() - 60}))))
                .is_ok()
        );
    }

    /// The leeway is honoured to the millisecond: a token past `exp + leeway` is expired.
    #[test]
    fn expiry_with_leeway_is_compared_to_the_millisecond() {
        let t = tokens(config());
        let leeway = config().leeway.as_secs_f64();
        let now = realtime_core::time::now_ms() as f64 / 1000.0;
        let e = t
            .verify(&hs(&claims(json!({"exp": now - leeway - 0.3}))))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenExpired);
        let id = t
            .verify(&hs(&claims(json!({"exp": now - leeway + 5.0}))))
            .unwrap();
        assert!(id.expires_at_ms > 0);
    }

    fn openssl(args: &[&str]) -> String {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn rsa_pair(dir: &std::path::Path) -> (PathBuf, PathBuf) {
        let private = dir.join("rsa.pem");
        let public = dir.join("rsa.pub.pem");
        openssl(&["genrsa", "-out", private.to_str().unwrap(), "2048"]);
        openssl(&[
            "rsa",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ]);
        (private, public)
    }

    fn b64url(bytes: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    #[test]
    fn rsa_keys_from_pem_and_jwks_and_no_algorithm_confusion() {
        let dir = std::env::temp_dir().join(format!("rt-external-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (private, public) = rsa_pair(&dir);
        let signing = EncodingKey::from_rsa_pem(&std::fs::read(&private).unwrap()).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("backend-1".into());
        let token = jsonwebtoken::encode(&header, &claims(json!({})), &signing).unwrap();

        let pem = tokens(ExternalAuthConfig {
            algorithm: Some(Algorithm::RS256),
            secret: None,
            public_key_file: Some(public.clone()),
            ..config()
        });
        assert!(pem.verify(&token).is_ok());
        // HS256 "signed" with the public key as the secret: refused.
        let public_pem = std::fs::read(&public).unwrap();
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(json!({})),
            &EncodingKey::from_secret(&public_pem),
        )
        .unwrap();
        assert_eq!(
            pem.verify(&forged).unwrap_err().code,
            ErrorCode::Unauthorized
        );

        // The same key published as a JWKS document.
        let modulus = openssl(&[
            "rsa",
            "-pubin",
            "-in",
            public.to_str().unwrap(),
            "-modulus",
            "-noout",
        ]);
        let hex = modulus.trim().trim_start_matches("Modulus=");
        let n: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let jwks = json!({"keys": [{"kty": "RSA", "kid": "backend-1", "alg": "RS256", "use": "sig", "n": b64url(&n), "e": "AQAB"}]});
        let jwks_file = dir.join("jwks.json");
        std::fs::write(&jwks_file, jwks.to_string()).unwrap();
        let set = tokens(ExternalAuthConfig {
            algorithm: None,
            secret: None,
            jwks_file: Some(jwks_file),
            ..config()
        });
        assert_eq!(set.verify(&token).unwrap().address, PLAYER.parse().unwrap());
        let mut other = Header::new(Algorithm::RS256);
        other.kid = Some("backend-2".into());
        let unknown = jsonwebtoken::encode(&other, &claims(json!({})), &signing).unwrap();
        assert!(
            set.verify(&unknown)
                .unwrap_err()
                .message
                .contains("unknown key")
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
