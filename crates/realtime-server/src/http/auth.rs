//! Wallet sign-in over HTTP:
//!
//! - `POST /v1/auth/challenge {"address"}` → SNIP-12 typed data with a single-use nonce;
//! - `POST /v1/auth/verify {"address", "nonce", "signature"}` → a session token, once the
//!   account contract accepts the signature over the recomputed message hash.

use crate::metrics::{Outcome, SignIn};
use std::net::IpAddr;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use realtime_auth::{Challenge, Domain, VerifyError};
use realtime_core::time::{now_ms, rfc3339_ms};
use realtime_core::{Address, ErrorCode};
use realtime_protocol::ErrorBody;
use realtime_store::Nonce;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use starknet_core::types::Felt;

use crate::chat::store_error;
use crate::client_ip::ClientIp;
use crate::config::StarknetAuthConfig;
use crate::state::{App, AppState};
use crate::web::ApiError;

/// The body of `POST /v1/auth/challenge`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The account contract address that signs in: a felt below 2^251, `0x` hex.
    address: String,
}

/// A challenge to sign: SNIP-12 typed data with a single-use nonce.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ChallengeResponse {
    /// The address in canonical form (`0x` and 64 lower-case hex digits).
    address: String,
    /// Send it back to `/v1/auth/verify`; valid once, until `expires_at`.
    nonce: String,
    /// RFC 3339, milliseconds, UTC.
    expires_at: String,
    /// Sign this with the wallet (`account.signMessage(typed_data)`).
    typed_data: Value,
}

/// The body of `POST /v1/auth/verify`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The address the challenge was issued to.
    address: String,
    /// The challenge's nonce (`0x` and 60 hex digits).
    nonce: String,
    /// The wallet's signature over the typed data: 1 to 64 felts, `0x` hex or decimal.
    signature: Vec<String>,
}

/// A session token for the address.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifyResponse {
    /// The address in canonical form.
    address: String,
    /// The session token: send it as `Authorization: Bearer <token>`, or to `/v1/ws`.
    token: String,
    /// RFC 3339, milliseconds, UTC.
    expires_at: String,
}

fn starknet(app: &AppState) -> Result<&StarknetAuthConfig, ApiError> {
    app.config.auth.starknet.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "wallet sign-in is not configured ([auth.starknet])",
        )
    })
}

fn domain(s: &StarknetAuthConfig) -> Domain {
    Domain {
        name: s.domain_name.clone(),
        version: s.domain_version.clone(),
        chain_id: s.chain_id.clone(),
    }
}

fn statement(s: &StarknetAuthConfig) -> String {
    s.statement
        .clone()
        .unwrap_or_else(|| format!("Sign in to chat in {}", s.domain_name))
}

fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    json.map(|Json(v)| v)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))
}

/// An account address: a felt in canonical range, and below 2^251 as every Starknet
/// contract address is.
fn address(s: &str) -> Result<Address, ApiError> {
    let a: Address = s
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("address {s:?}: {e}")))?;
    if !a.is_contract_address() {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("address {s:?}: not a contract address (at or above 2^251)"),
        ));
    }
    Ok(a)
}

/// Most felts a signature may have (multisig and session-key accounts send several).
pub const MAX_SIGNATURE_FELTS: usize = 64;

/// The signature felts, each in canonical form: `0x` hex or decimal (as starknet.js sends
/// them), below the field prime, not negative. Checked before any RPC call.
fn signature(felts: &[String]) -> Result<Vec<Felt>, ApiError> {
    if felts.is_empty() || felts.len() > MAX_SIGNATURE_FELTS {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("signature: 1 to {MAX_SIGNATURE_FELTS} felts"),
        ));
    }
    felts
        .iter()
        .enumerate()
        .map(|(i, f)| {
            realtime_core::parse_felt(f)
                .map(|bytes| Felt::from_bytes_be(&bytes))
                .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("signature[{i}]: {e}")))
        })
        .collect()
}

/// A nonce in the form challenges issue (`0x` and 60 lower-case hex digits); anything else
/// was never issued, and is a malformed request rather than an unknown nonce.
fn check_nonce(nonce: &str) -> Result<(), ApiError> {
    let ok = nonce.len() == 62
        && nonce.starts_with("0x")
        && nonce[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::BadRequest,
            "nonce: the nonce of a challenge from /v1/auth/challenge (0x and 60 hex digits)",
        ))
    }
}

fn limit(app: &AppState, ip: IpAddr) -> Result<(), ApiError> {
    if let Some(wallet) = &app.identity.wallet
        && let Err(wait) = wallet.limiter.check(ip)
    {
        return Err(ApiError(
            ErrorBody::new(
                ErrorCode::RateLimited,
                "too many sign-in attempts; slow down",
            )
            .retry_after(wait),
        ));
    }
    Ok(())
}

pub async fn challenge(
    State(app): State<App>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    request: Result<Json<ChallengeRequest>, JsonRejection>,
) -> Result<Json<ChallengeResponse>, ApiError> {
    let s = starknet(&app)?;
    limit(&app, ip)?;
    let request = body(request)?;
    let address = address(&request.address)?;
    let now = now_ms();
    let challenge = Challenge::new(
        address,
        u64::try_from(now / 1000).unwrap_or(0),
        statement(s),
    );
    let expires = now + i64::try_from(s.challenge_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    app.storage
        .store
        .create_nonce(&challenge.nonce, address, now, expires)
        .await
        .map_err(|e| ApiError(store_error(&e)))?;
    Ok(Json(ChallengeResponse {
        address: address.to_string(),
        typed_data: challenge.typed_data(&domain(s)),
        nonce: challenge.nonce,
        expires_at: rfc3339_ms(expires),
    }))
}

pub async fn verify(
    State(app): State<App>,
    extension: Extension<ClientIp>,
    request: Result<Json<VerifyRequest>, JsonRejection>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let outcome = verify_signature(app, extension, request).await;
    let result = match &outcome {
        Ok(_) => Outcome::Ok,
        Err(_) => Outcome::Refused,
    };
    crate::metrics::get().sign_in(SignIn::Wallet, result);
    outcome
}

async fn verify_signature(
    app: App,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    request: Result<Json<VerifyRequest>, JsonRejection>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let s = starknet(&app)?;
    limit(&app, ip)?;
    let request = body(request)?;
    let address = address(&request.address)?;
    let signature = signature(&request.signature)?;
    check_nonce(&request.nonce)?;
    // A banned address is told before its wallet is asked anything more.
    app.moderation.standing.check_ban(address)?;
    // Used up now, so no two verifications of one nonce run at once; put back only when the
    // RPC node could not answer.
    let (issued_at_ms, expires_at_ms) = match app
        .storage
        .store
        .consume_nonce(&request.nonce, address, now_ms())
        .await
        .map_err(|e| ApiError(store_error(&e)))?
    {
        Nonce::Valid {
            issued_at_ms,
            expires_at_ms,
        } => (issued_at_ms, expires_at_ms),
        Nonce::Expired => {
            return Err(ApiError::new(
                ErrorCode::InvalidNonce,
                "the challenge has expired; ask for a new one",
            ));
        }
        Nonce::Unknown => {
            return Err(ApiError::new(
                ErrorCode::InvalidNonce,
                "unknown or already used nonce for this address; ask for a new challenge",
            ));
        }
    };
    let challenge = Challenge {
        address,
        nonce: request.nonce.clone(),
        issued_at: u64::try_from(issued_at_ms / 1000).unwrap_or(0),
        statement: statement(s),
    };
    let hash = challenge
        .message_hash(&domain(s))
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let rpc = &app
        .identity
        .wallet
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no RPC client"))?
        .rpc;
    match rpc.is_valid_signature(address, hash, &signature).await {
        Ok(()) => {}
        Err(VerifyError::InvalidSignature) => {
            return Err(ApiError::new(
                ErrorCode::InvalidSignature,
                VerifyError::InvalidSignature.to_string(),
            ));
        }
        Err(VerifyError::NotDeployed) => {
            return Err(ApiError::new(
                ErrorCode::AccountNotDeployed,
                VerifyError::NotDeployed.to_string(),
            ));
        }
        Err(VerifyError::BadRequest(why)) => {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("the Starknet node refused the signature as malformed: {why}"),
            ));
        }
        Err(VerifyError::Unreachable(why)) => {
            tracing::warn!(reason = %why, "starknet rpc did not answer");
            if let Err(e) = app
                .storage
                .store
                .restore_nonce(&request.nonce, address, issued_at_ms, expires_at_ms)
                .await
            {
                tracing::warn!(error = %e, "could not put back a sign-in nonce");
            }
            return Err(ApiError(
                ErrorBody::new(
                    ErrorCode::Unavailable,
                    "the Starknet RPC node did not answer; retry shortly (the challenge stays valid)",
                )
                .retry_after(std::time::Duration::from_secs(1)),
            ));
        }
    }
    let ttl = app.config.auth.session_ttl;
    let (token, expires) = app
        .identity
        .tokens
        .mint_with_expiry(address, ttl, false)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    tracing::info!(%address, "signed in with a wallet");
    Ok(Json(VerifyResponse {
        address: address.to_string(),
        token,
        expires_at: rfc3339_ms(expires),
    }))
}
