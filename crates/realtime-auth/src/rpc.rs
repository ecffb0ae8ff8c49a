//! Asks an account contract whether it accepts a signature, through Starknet JSON-RPC
//! (`starknet_call` of `is_valid_signature(hash, signature)`). The account itself decides,
//! so every account kind works (Argent, Braavos, Cartridge Controller, multisig, session
//! keys), as long as it implements SNIP-6. Accounts that answer with the legacy entry point
//! name `isValidSignature` are asked again with it.

use std::time::Duration;

use realtime_core::Address;
use serde::Deserialize;
use serde_json::{Value, json};
use starknet_core::types::Felt;
use starknet_core::utils::get_selector_from_name;

/// `'VALID'` as a short string: the SNIP-6 success answer.
const VALID: u64 = 0x0056_414c_4944;
/// JSON-RPC error: no contract at that address.
const CONTRACT_NOT_FOUND: i64 = 20;
/// JSON-RPC error: the entry point does not exist.
const ENTRYPOINT_NOT_FOUND: i64 = 21;

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the account does not accept this signature")]
    InvalidSignature,
    #[error("no account contract is deployed at this address")]
    NotDeployed,
    #[error("the Starknet RPC node is unreachable: {0}")]
    Unreachable(String),
}

/// A Starknet JSON-RPC endpoint.
#[derive(Debug, Clone)]
pub struct Rpc {
    client: reqwest::Client,
    url: String,
}

#[derive(Deserialize)]
struct RpcError {
    code: i64,
    message: String,
    #[serde(default)]
    data: Option<Value>,
}

#[derive(Deserialize)]
struct RpcResponse {
    #[serde(default)]
    result: Option<Vec<String>>,
    #[serde(default)]
    error: Option<RpcError>,
}

fn hex(f: Felt) -> String {
    format!("{f:#x}")
}

impl Rpc {
    pub fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            url: url.to_owned(),
        })
    }

    /// Whether `account` accepts `signature` over `hash`.
    pub async fn is_valid_signature(
        &self,
        account: Address,
        hash: [u8; 32],
        signature: &[Felt],
    ) -> Result<(), VerifyError> {
        match self
            .call_entry(account, "is_valid_signature", hash, signature)
            .await
        {
            Err(Answer::NoEntryPoint) => {}
            other => return other.map_err(Answer::into_error),
        }
        self.call_entry(account, "isValidSignature", hash, signature)
            .await
            .map_err(Answer::into_error)
    }

    async fn call_entry(
        &self,
        account: Address,
        entry_point: &str,
        hash: [u8; 32],
        signature: &[Felt],
    ) -> Result<(), Answer> {
        let selector = get_selector_from_name(entry_point)
            .map_err(|e| Answer::Error(VerifyError::Unreachable(e.to_string())))?;
        let mut calldata = vec![
            hex(Felt::from_bytes_be(&hash)),
            hex(Felt::from(signature.len())),
        ];
        calldata.extend(signature.iter().map(|f| hex(*f)));
        let body = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "starknet_call",
            "params": {
                "request": {
                    "contract_address": account.to_string(),
                    "entry_point_selector": hex(selector),
                    "calldata": calldata,
                },
                "block_id": "latest"
            }
        });
        let response = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| Answer::Error(VerifyError::Unreachable(e.to_string())))?;
        if !response.status().is_success() {
            return Err(Answer::Error(VerifyError::Unreachable(format!(
                "HTTP {}",
                response.status()
            ))));
        }
        let answer: RpcResponse = response
            .json()
            .await
            .map_err(|e| Answer::Error(VerifyError::Unreachable(format!("bad answer: {e}"))))?;
        if let Some(e) = answer.error {
            return Err(match e.code {
                CONTRACT_NOT_FOUND => Answer::Error(VerifyError::NotDeployed),
                ENTRYPOINT_NOT_FOUND => Answer::NoEntryPoint,
                _ if mentions_missing_entry_point(&e) => Answer::NoEntryPoint,
                // The account ran and refused (most accounts revert on a bad signature).
                _ => {
                    tracing::debug!(code = e.code, message = %e.message, "is_valid_signature failed");
                    Answer::Error(VerifyError::InvalidSignature)
                }
            });
        }
        // Exactly one felt: `'VALID'` from SNIP-6 `is_valid_signature`; the legacy
        // `isValidSignature` answers `1` (some answer `'VALID'` too).
        let result = answer.result.unwrap_or_default();
        let answer = match result.as_slice() {
            [one] => Felt::from_hex(one).ok(),
            _ => None,
        };
        let legacy = entry_point == "isValidSignature";
        let valid = answer.is_some_and(|f| f == Felt::from(VALID) || (legacy && f == Felt::ONE));
        if valid {
            Ok(())
        } else {
            Err(Answer::Error(VerifyError::InvalidSignature))
        }
    }
}

fn mentions_missing_entry_point(e: &RpcError) -> bool {
    let text = format!(
        "{} {}",
        e.message,
        e.data.as_ref().map(Value::to_string).unwrap_or_default()
    );
    text.contains("ENTRYPOINT_NOT_FOUND")
        || text.contains("Entry point") && text.contains("not found")
}

enum Answer {
    NoEntryPoint,
    Error(VerifyError),
}

impl Answer {
    fn into_error(self) -> VerifyError {
        match self {
            Answer::NoEntryPoint => VerifyError::InvalidSignature,
            Answer::Error(e) => e,
        }
    }
}
