//! Wallet sign-in over HTTP:
//!
//! - `POST /v1/auth/challenge {"address"}` → SNIP-12 typed data with a single-use nonce;
//! - `POST /v1/auth/verify {"address", "nonce", "signature"}` → a session token, once the
//!   account contract accepts the signature over the recomputed message hash.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use realtime_auth::{Challenge, Domain, VerifyError};
use realtime_core::time::{now_ms, rfc3339_ms};
use realtime_core::{Address, ErrorCode};
use realtime_store::Nonce;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use starknet_core::types::Felt;

use super::error::ApiError;
use crate::chat::store_error;
use crate::config::StarknetAuthConfig;
use crate::state::{App, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    address: String,
}

#[derive(Debug, Serialize)]
pub struct ChallengeResponse {
    address: String,
    nonce: String,
    expires_at: String,
    /// Sign this with the wallet (`account.signMessage(typed_data)`).
    typed_data: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    address: String,
    nonce: String,
    signature: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct VerifyResponse {
    address: String,
    token: String,
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

fn address(s: &str) -> Result<Address, ApiError> {
    s.parse()
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("address {s:?}: {e}")))
}

fn limit(app: &AppState, peer: SocketAddr) -> Result<(), ApiError> {
    if let Some(limiter) = &app.sign_in_limiter
        && let Err(wait) = limiter.check(peer.ip())
    {
        let mut e = ApiError::new(
            ErrorCode::RateLimited,
            "too many sign-in attempts; slow down",
        );
        e.0.retry_after_ms = Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        return Err(e);
    }
    Ok(())
}

pub async fn challenge(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Result<Json<ChallengeRequest>, JsonRejection>,
) -> Result<Json<ChallengeResponse>, ApiError> {
    let s = starknet(&app)?;
    limit(&app, peer)?;
    let request = body(request)?;
    let address = address(&request.address)?;
    let now = now_ms();
    let challenge = Challenge::new(
        address,
        u64::try_from(now / 1000).unwrap_or(0),
        statement(s),
    );
    let expires = now + i64::try_from(s.challenge_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    app.store
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Result<Json<VerifyRequest>, JsonRejection>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let s = starknet(&app)?;
    limit(&app, peer)?;
    let request = body(request)?;
    let address = address(&request.address)?;
    let signature: Vec<Felt> = request
        .signature
        .iter()
        // starknet.js sends decimal strings; hex needs its 0x prefix to be read as hex.
        .map(|f| {
            if f.starts_with("0x") || f.starts_with("0X") {
                Felt::from_hex(f)
            } else {
                Felt::from_dec_str(f)
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "signature: an array of felts"))?;
    if signature.is_empty() || signature.len() > 64 {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "signature: 1 to 64 felts",
        ));
    }
    // Used up whatever happens next: a nonce is good for one attempt.
    let issued_at_ms = match app
        .store
        .consume_nonce(&request.nonce, address, now_ms())
        .await
        .map_err(|e| ApiError(store_error(&e)))?
    {
        Nonce::Valid { issued_at_ms } => issued_at_ms,
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
    let rpc = app
        .rpc
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no RPC client"))?;
    rpc.is_valid_signature(address, hash, &signature)
        .await
        .map_err(|e| match e {
            VerifyError::InvalidSignature => {
                ApiError::new(ErrorCode::InvalidSignature, e.to_string())
            }
            VerifyError::NotDeployed => ApiError::new(ErrorCode::AccountNotDeployed, e.to_string()),
            VerifyError::Unreachable(why) => {
                tracing::warn!(reason = %why, "starknet rpc unreachable");
                ApiError::new(
                    ErrorCode::Unavailable,
                    "the Starknet RPC node is unreachable; retry shortly",
                )
            }
        })?;
    let ttl = app.config.auth.session_ttl;
    let token = app
        .tokens
        .mint(address, ttl, false)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e))?;
    tracing::info!(%address, "signed in with a wallet");
    let expires = now_ms() + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    Ok(Json(VerifyResponse {
        address: address.to_string(),
        token,
        expires_at: rfc3339_ms(expires),
    }))
}
