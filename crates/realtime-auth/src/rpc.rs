//! Asks an account contract whether it accepts a signature, through Starknet JSON-RPC
//! (`starknet_call` of `is_valid_signature(hash, signature)`). The account itself decides,
//! so every account kind works (Argent, Braavos, Cartridge Controller, multisig, session
//! keys), as long as it implements SNIP-6. Accounts that answer with the legacy entry point
//! name `isValidSignature` are asked again with it.
//!
//! Only the contract's own answer can make a signature invalid: a `'VALID'` (or legacy `1`)
//! answer accepts it, another answer or a revert of the account (`CONTRACT_ERROR`) refuses it.
//! Everything else the node says (HTTP errors such as 429, internal errors, unknown error
//! codes, timeouts, unreadable answers) means the question was not answered, and reads as
//! unavailable, so a rate-limited provider never turns a good signature into a bad one.

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
/// JSON-RPC error: the contract ran and failed (the account reverted).
const CONTRACT_ERROR: i64 = 40;
/// JSON-RPC error: the request's parameters are invalid (e.g. a felt out of range).
const INVALID_PARAMS: i64 = -32602;

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the account does not accept this signature")]
    InvalidSignature,
    #[error("no account contract is deployed at this address")]
    NotDeployed,
    #[error("the Starknet RPC node is unreachable: {0}")]
    Unreachable(String),
    /// The node refused the request itself as malformed (e.g. a value out of range).
    #[error("the Starknet RPC node refused the request: {0}")]
    BadRequest(String),
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
#[serde(bound = "T: serde::de::DeserializeOwned")]
struct RpcResponse<T> {
    #[serde(default = "Option::default")]
    result: Option<T>,
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

    /// Posts one JSON-RPC request. Failing to get a readable answer (the node unreachable,
    /// an HTTP error such as 429, a body that is not JSON-RPC) is `Unreachable`.
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        body: &Value,
    ) -> Result<RpcResponse<T>, VerifyError> {
        let unreachable = VerifyError::Unreachable;
        let response = self
            .client
            .post(&self.url)
            .json(body)
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unreachable(format!("HTTP {}", response.status())));
        }
        response
            .json()
            .await
            .map_err(|e| unreachable(format!("bad answer: {e}")))
    }

    /// The chain the node serves (`starknet_chainId`), as a felt.
    pub async fn chain_id(&self) -> Result<Felt, VerifyError> {
        let unreachable = VerifyError::Unreachable;
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "starknet_chainId", "params": []});
        let answer: RpcResponse<String> = self.post(&body).await?;
        if let Some(e) = answer.error {
            return Err(unreachable(format!("RPC error {}: {}", e.code, e.message)));
        }
        let id = answer.result.unwrap_or_default();
        Felt::from_hex(&id).map_err(|_| unreachable(format!("bad chain id {id:?}")))
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
        let answer: RpcResponse<Vec<String>> = self.post(&body).await.map_err(Answer::Error)?;
        if let Some(e) = answer.error {
            return Err(classify(&e));
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

/// What a JSON-RPC error to `starknet_call` means for the signature.
fn classify(e: &RpcError) -> Answer {
    let text = format!(
        "{} {}",
        e.message,
        e.data.as_ref().map(Value::to_string).unwrap_or_default()
    );
    let missing_entry_point = text.contains("ENTRYPOINT_NOT_FOUND")
        || text.contains("Entry point") && text.contains("not found");
    let out_of_range = text.to_ascii_lowercase().contains("out of range");
    match e.code {
        CONTRACT_NOT_FOUND => Answer::Error(VerifyError::NotDeployed),
        ENTRYPOINT_NOT_FOUND => Answer::NoEntryPoint,
        _ if missing_entry_point => Answer::NoEntryPoint,
        _ if out_of_range => Answer::Error(VerifyError::BadRequest(e.message.clone())),
        INVALID_PARAMS => Answer::Error(VerifyError::BadRequest(e.message.clone())),
        // The account ran and refused (most accounts revert on a bad signature).
        CONTRACT_ERROR => {
            tracing::debug!(message = %e.message, "the account refused the signature");
            Answer::Error(VerifyError::InvalidSignature)
        }
        // Rate limits, internal errors, unknown codes: no answer from the contract.
        code => Answer::Error(VerifyError::Unreachable(format!(
            "RPC error {code}: {}",
            e.message
        ))),
    }
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

/// Whether `url` is `https://`, or `http://` to this very host: `localhost` exactly, an
/// address in 127.0.0.0/8, or `[::1]`. The host is parsed, so `localhost.evil.tld`,
/// `localhost@evil.tld` (a user name before another host) and `127.0.0.1.nip.io` are not
/// local.
pub fn is_https_or_local_http(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match u.scheme() {
        "https" => u.host().is_some(),
        "http" => match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_only_to_this_host() {
        for ok in [
            "https://rpc.example/v0_8",
            "http://localhost:5050",
            "http://LOCALHOST:5050/rpc",
            "http://127.0.0.1:5050",
            "http://127.8.9.10/",
            "http://[::1]:5050",
        ] {
            assert!(is_https_or_local_http(ok), "{ok}");
        }
        for refused in [
            "http://localhost.evil.tld/rpc",
            "http://localhost@evil.tld/rpc",
            "http://127.0.0.1@evil.tld/",
            "http://127.0.0.1.nip.io/",
            "http://localhostx:80",
            "http://10.0.0.1:5050",
            "http://[::2]/",
            "ftp://localhost/",
            "localhost:5050",
            "https://",
        ] {
            assert!(!is_https_or_local_http(refused), "{refused}");
        }
    }

    use super::*;

    fn error(code: i64, message: &str) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn verdict(e: RpcError) -> Result<(), VerifyError> {
        Err(classify(&e).into_error())
    }

    #[test]
    fn only_the_contract_refuses_a_signature() {
        assert_eq!(
            verdict(error(40, "Contract error")),
            Err(VerifyError::InvalidSignature)
        );
        assert_eq!(
            verdict(error(20, "Contract not found")),
            Err(VerifyError::NotDeployed)
        );
        for (code, message) in [
            (-32603, "Internal error"),
            (-32005, "Too many requests"),
            (429, "rate limit exceeded"),
            (63, "An unexpected error occurred"),
            (24, "Block not found"),
            (-32601, "Method not found"),
        ] {
            assert!(
                matches!(
                    verdict(error(code, message)),
                    Err(VerifyError::Unreachable(_))
                ),
                "{code} {message}"
            );
        }
    }

    #[test]
    fn an_out_of_range_answer_is_a_bad_request() {
        for e in [
            error(-32602, "Invalid params"),
            error(40, "Felt value out of range"),
            error(-32603, "value is out of range for felt"),
        ] {
            assert!(
                matches!(verdict(e), Err(VerifyError::BadRequest(_))),
                "out of range"
            );
        }
        assert!(matches!(
            classify(&error(
                40,
                "Entry point EntryPointSelector(0x1) not found in contract."
            )),
            Answer::NoEntryPoint
        ));
    }
}
