//! Wallet sign-in (the `wallet` feature): a Starknet account signs the server's challenge
//! and gets a session token, over HTTP, as docs/auth.md describes:
//!
//! 1. `POST /v1/auth/challenge {"address"}` gives SNIP-12 typed data with a single-use nonce;
//! 2. the account's [`Signer`] signs it as it is;
//! 3. `POST /v1/auth/verify {"address", "nonce", "signature"}` gives the token, once the
//!    account contract has accepted the signature.
//!
//! [`sign_in`] does that once. [`wallet_token`] makes it a [`TokenSource`](crate::TokenSource) for a
//! [`Session`](crate::Session): the session asks its source before every connection and every
//! in-band refresh, and a sign-in costs a signature (a prompt on a hardware wallet, a call to
//! a remote signer) and an RPC call on the server, so the source keeps its token while
//! enough of it is left, and concurrent asks share one sign-in.
//!
//! An account that signs elsewhere (a wallet, a signing service, a hardware device)
//! implements [`Signer`]:
//!
//! ```no_run
//! use realtime_client::wallet::{Address, Felt, Signer, SignerError, sign_in};
//!
//! struct Remote {
//!     address: Address,
//! }
//!
//! impl Signer for Remote {
//!     fn address(&self) -> Address {
//!         self.address
//!     }
//!
//!     async fn sign_typed_data(
//!         &self,
//!         typed_data: &serde_json::Value,
//!     ) -> Result<Vec<Felt>, SignerError> {
//!         // Send `typed_data` to the signer as it is; it answers with the signature felts.
//!         Err("no signer here".into())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let remote = Remote { address: "0x64b4…".parse()? };
//! let session = sign_in("https://chat.example.com", &remote).await?;
//! println!("signed in as {} until {}", session.address, session.expires_at);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

pub use realtime_core::Address;
use realtime_protocol::{ErrorBody, ErrorCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
pub use starknet_crypto::Felt;

use crate::session::{Backoff, random_unit};

mod source;

pub use source::{WalletTokenOptions, wallet_token, wallet_token_with};

/// What a signer may fail with: its own error, boxed, so a wallet, a remote signer or a
/// hardware device can report in its own terms.
pub type SignerError = Box<dyn std::error::Error + Send + Sync>;

/// A Starknet account that can sign: its address and a SNIP-12 signature over typed data.
///
/// Signing is async so that a signer may be a remote service or a hardware wallet waiting
/// for its user. The signature is what the account contract's `is_valid_signature` takes:
/// `[r, s]` for a single Stark key, more felts for multisig or session-key accounts.
pub trait Signer: Send + Sync {
    /// The account's address.
    fn address(&self) -> Address;

    /// Signs `typed_data` (SNIP-12, as the server sends it) as the account.
    fn sign_typed_data(
        &self,
        typed_data: &Value,
    ) -> impl Future<Output = Result<Vec<Felt>, SignerError>> + Send;
}

/// Signs locally with the account's Stark private key: for bots and tools that hold their
/// key, on accounts that check `[r, s]` from one key (OpenZeppelin accounts, such as
/// devnet's predeployed ones, and Argent's single-signer ones). Other accounts implement
/// [`Signer`] themselves.
///
/// The message hash is the server's own (`realtime_auth::challenge::message_hash`), so what
/// is signed is exactly what the server asks the account contract about.
#[derive(Clone)]
pub struct KeySigner {
    address: Address,
    private_key: Felt,
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key: a signer ends up in logs through the structs that hold it.
        f.debug_struct("KeySigner")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Why [`KeySigner::from_hex`] could not read an address or a key (never showing the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl KeySigner {
    pub fn new(address: Address, private_key: Felt) -> Self {
        Self {
            address,
            private_key,
        }
    }

    /// From an address and a private key as `0x` hex (a devnet's or a wallet export's form).
    pub fn from_hex(address: &str, private_key: &str) -> Result<Self, KeyError> {
        let address = address
            .parse()
            .map_err(|e| KeyError(format!("address {address:?}: {e}")))?;
        let private_key = Felt::from_hex(private_key)
            .map_err(|e| KeyError(format!("private key: not a felt: {e}")))?;
        if private_key == Felt::ZERO {
            return Err(KeyError("private key: zero".into()));
        }
        Ok(Self::new(address, private_key))
    }

    /// The Stark public key of the private key (what the account contract stores).
    pub fn public_key(&self) -> Felt {
        starknet_crypto::get_public_key(&self.private_key)
    }
}

impl Signer for KeySigner {
    fn address(&self) -> Address {
        self.address
    }

    async fn sign_typed_data(&self, typed_data: &Value) -> Result<Vec<Felt>, SignerError> {
        let hash = realtime_auth::challenge::message_hash(typed_data, self.address)?;
        let hash = Felt::from_bytes_be(&hash);
        // Deterministic k (RFC 6979), as wallets do: no randomness to get wrong.
        let k = starknet_crypto::rfc6979_generate_k(&hash, &self.private_key, None);
        let signature = starknet_crypto::sign(&self.private_key, &hash, &k)?;
        Ok(vec![signature.r, signature.s])
    }
}

/// A signed-in session: the canonical address, the token to connect with, and when it
/// expires (RFC 3339, as in the `connected` push).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct SignedIn {
    pub address: String,
    pub token: String,
    pub expires_at: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a bearer credential: kept out of logs.
        f.debug_struct("SignedIn")
            .field("address", &self.address)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The server refused, with its error code (`invalid_signature`, `invalid_nonce`,
    /// `account_not_deployed`, `rate_limited`, `unavailable`, …) and message.
    #[error("the server refused the sign-in: {}: {}", .0.code, .0.message)]
    Server(ErrorBody),
    /// The signer did not sign.
    #[error("the signer did not sign: {0}")]
    Signer(SignerError),
    /// The server could not be reached, or did not answer in time.
    #[error("sign-in request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// An HTTP error without the server's error body (a proxy's page, say).
    #[error("{path}: HTTP {status} without an error body")]
    Status { path: &'static str, status: u16 },
    /// A success status with a body that is not the reply docs/auth.md describes.
    #[error("{path}: unexpected reply: {reason}")]
    Reply { path: &'static str, reason: String },
}

impl SignInError {
    /// The server's error code, when the server refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            SignInError::Server(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether trying again later can succeed: the server or the network was busy or away,
    /// as opposed to a refused signature or a bad request.
    pub fn is_transient(&self) -> bool {
        match self {
            SignInError::Server(e) => {
                matches!(e.code, ErrorCode::Unavailable | ErrorCode::RateLimited)
            }
            SignInError::Transport(e) => {
                e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
            }
            SignInError::Status { status, .. } => *status == 429 || *status >= 500,
            SignInError::Signer(_) | SignInError::Reply { .. } => false,
        }
    }

    /// How long the server asked to wait before trying again (`rate_limited`,
    /// `unavailable`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SignInError::Server(e) => e.retry_after_ms.map(Duration::from_millis),
            _ => None,
        }
    }
}

/// How long one HTTP request of a sign-in may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

fn http_client() -> Result<reqwest::Client, SignInError> {
    Ok(reqwest::Client::builder().timeout(HTTP_TIMEOUT).build()?)
}

/// Signs in once: one challenge, one signature, one verify. `base_url` is the server's HTTP
/// origin (`https://chat.example.com`, or `http://127.0.0.1:8090` locally). Nothing is
/// retried: [`wallet_token`] does that for sessions.
pub async fn sign_in<S: Signer>(base_url: &str, signer: &S) -> Result<SignedIn, SignInError> {
    sign_in_with(&http_client()?, base_url, signer, &mut Retries::new(0)).await
}

#[derive(Deserialize)]
struct ChallengeReply {
    address: String,
    nonce: String,
    typed_data: Value,
}

/// A sign-in, retrying transient failures step by step while `retries` allows: a busy
/// challenge is asked again, and a busy verify is sent again with the same signature (the
/// server keeps the nonce for that, see docs/auth.md), so a retry costs no new signature, and
/// a rate limit that refills one request at a time is not outrun by a two-request sign-in.
async fn sign_in_with<S: Signer>(
    http: &reqwest::Client,
    base_url: &str,
    signer: &S,
    retries: &mut Retries,
) -> Result<SignedIn, SignInError> {
    let address = json!({ "address": signer.address().to_string() });
    loop {
        let challenge: ChallengeReply = loop {
            match post(http, base_url, "/v1/auth/challenge", &address).await {
                Ok(c) => break c,
                Err(e) => retries.wait(e).await?,
            }
        };
        let signature = signer
            .sign_typed_data(&challenge.typed_data)
            .await
            .map_err(SignInError::Signer)?;
        if signature.is_empty() {
            return Err(SignInError::Signer("the signature is empty".into()));
        }
        let signature: Vec<String> = signature.iter().map(Felt::to_hex_string).collect();
        // The challenge's own address: the nonce was issued to exactly that spelling.
        let verify = json!({
            "address": challenge.address,
            "nonce": challenge.nonce,
            "signature": signature,
        });
        let mut resent = false;
        loop {
            match post(http, base_url, "/v1/auth/verify", &verify).await {
                Ok(signed_in) => return Ok(signed_in),
                // A resend may find the nonce gone: used by a first send whose answer was
                // lost, or expired while waiting. A new challenge then.
                Err(e) if resent && e.code() == Some(ErrorCode::InvalidNonce) => {
                    retries.take().ok_or(e)?;
                    break;
                }
                Err(e) => {
                    retries.wait(e).await?;
                    resent = true;
                }
            }
        }
    }
}

/// What is left of the retries of one sign-in.
struct Retries {
    left: u32,
    done: u32,
}

impl Retries {
    fn new(left: u32) -> Self {
        Self { left, done: 0 }
    }

    /// Uses up one retry; `None` when none is left.
    fn take(&mut self) -> Option<u32> {
        self.left = self.left.checked_sub(1)?;
        self.done += 1;
        Some(self.done - 1)
    }

    /// Waits before retrying what failed with `e`: the server's `retry_after` (and a little
    /// more, so the retry does not arrive a hair early), or a backoff. Gives `e` back when it
    /// is not transient or no retry is left.
    async fn wait(&mut self, e: SignInError) -> Result<(), SignInError> {
        if !e.is_transient() {
            return Err(e);
        }
        let Some(n) = self.take() else {
            return Err(e);
        };
        let wait = e.retry_after().map_or_else(
            || RETRY_BACKOFF.delay(n, random_unit()),
            |d| d.min(MAX_RETRY_WAIT) + RETRY_SLACK,
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

async fn post<T: DeserializeOwned>(
    http: &reqwest::Client,
    base_url: &str,
    path: &'static str,
    body: &Value,
) -> Result<T, SignInError> {
    #[derive(Deserialize)]
    struct Refusal {
        error: ErrorBody,
    }
    let url = format!("{}{path}", base_url.trim_end_matches('/'));
    let response = http.post(url).json(body).send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    if let Ok(refusal) = serde_json::from_slice::<Refusal>(&bytes) {
        return Err(SignInError::Server(refusal.error));
    }
    if !status.is_success() {
        return Err(SignInError::Status {
            path,
            status: status.as_u16(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| SignInError::Reply {
        path,
        reason: e.to_string(),
    })
}

/// The waits between transient failures when the server gives no `retry_after`.
const RETRY_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(500),
    max: Duration::from_secs(8),
};

/// The longest `retry_after` waited for inside one call.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// Added to the server's `retry_after`, which is rounded down to the millisecond.
const RETRY_SLACK: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn typed_data(address: Address) -> Value {
        let domain = realtime_auth::Domain {
            name: "example-world".into(),
            version: "1".into(),
            chain_id: "SN_SEPOLIA".into(),
        };
        realtime_auth::Challenge::new(address, 1_764_090_000, "Sign in".into()).typed_data(&domain)
    }

    #[tokio::test]
    async fn a_key_signer_signs_the_servers_message_hash() {
        let signer = KeySigner::from_hex("0x64b48806902a367c", "0x71d7bb07b9a64f6f").unwrap();
        let typed = typed_data(signer.address());
        let signature = signer.sign_typed_data(&typed).await.unwrap();
        assert_eq!(signature.len(), 2);
        let hash = realtime_auth::challenge::message_hash(&typed, signer.address()).unwrap();
        let ok = starknet_crypto::verify(
            &signer.public_key(),
            &Felt::from_bytes_be(&hash),
            &signature[0],
            &signature[1],
        )
        .unwrap();
        assert!(ok);
        // Deterministic, as wallets sign.
        assert_eq!(signer.sign_typed_data(&typed).await.unwrap(), signature);
    }

    #[test]
    fn keys_and_addresses_are_checked_and_the_key_is_not_printed() {
        assert!(KeySigner::from_hex("bob", "0x1").is_err());
        assert!(KeySigner::from_hex("0x1", "0x0").is_err());
        let e = KeySigner::from_hex("0x1", "0xkey71d7").unwrap_err();
        assert!(!e.to_string().contains("71d7"), "{e}");
        let signer = KeySigner::from_hex("0x1", "0x71d7bb07b9a64f6f").unwrap();
        assert!(!format!("{signer:?}").contains("71d7"));
    }

    #[test]
    fn busy_servers_are_transient_refusals_are_not() {
        let server = |code, retry: Option<u64>| {
            SignInError::Server(ErrorBody {
                code,
                message: String::new(),
                retry_after_ms: retry,
            })
        };
        let busy = server(ErrorCode::RateLimited, Some(1500));
        assert!(busy.is_transient());
        assert_eq!(busy.retry_after(), Some(Duration::from_millis(1500)));
        assert_eq!(busy.code(), Some(ErrorCode::RateLimited));
        assert!(server(ErrorCode::Unavailable, None).is_transient());
        for code in [
            ErrorCode::InvalidSignature,
            ErrorCode::InvalidNonce,
            ErrorCode::AccountNotDeployed,
            ErrorCode::BadRequest,
            ErrorCode::NotFound,
        ] {
            assert!(!server(code, None).is_transient(), "{code}");
        }
        let status = |status| SignInError::Status {
            path: "/v1",
            status,
        };
        assert!(status(502).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(404).is_transient());
        assert!(!SignInError::Signer("no".into()).is_transient());
        let shown = server(ErrorCode::InvalidSignature, None).to_string();
        assert!(shown.contains("invalid_signature"), "{shown}");
    }

    #[tokio::test]
    async fn retries_are_counted_and_refusals_are_not_retried() {
        let mut retries = Retries::new(2);
        let busy = || {
            SignInError::Server(ErrorBody {
                code: ErrorCode::Unavailable,
                message: String::new(),
                retry_after_ms: Some(20),
            })
        };
        let refused = SignInError::Server(ErrorBody::new(ErrorCode::InvalidSignature, ""));
        let before = std::time::Instant::now();
        assert!(retries.wait(busy()).await.is_ok());
        assert!(before.elapsed() >= Duration::from_millis(20) + RETRY_SLACK);
        assert_eq!(
            retries.wait(refused).await.unwrap_err().code(),
            Some(ErrorCode::InvalidSignature)
        );
        assert!(retries.wait(busy()).await.is_ok());
        assert!(retries.wait(busy()).await.is_err(), "none left");
    }

    #[test]
    fn a_signed_in_session_does_not_print_its_token() {
        let s = SignedIn {
            address: "0x1".into(),
            token: "eyJsecret".into(),
            expires_at: "2026-01-01T00:00:00.000Z".into(),
        };
        assert!(!format!("{s:?}").contains("eyJ"));
    }
}
