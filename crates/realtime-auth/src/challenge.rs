//! The sign-in challenge. A client asks for one for its address; the server answers with
//! SNIP-12 typed data carrying a random single-use nonce; the wallet signs it; the server
//! recomputes the message hash and asks the account contract whether the signature is valid.
//!
//! The typed data (revision 1):
//!
//! ```text
//! StarknetDomain { name: shortstring, version: shortstring, chainId: shortstring, revision: shortstring }
//! SignIn { address: ContractAddress, nonce: felt, issuedAt: timestamp, statement: string }
//! ```

use realtime_core::Address;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use starknet_core::types::Felt;
use starknet_core::types::typed_data::TypedData;

/// The SNIP-12 domain: which world, which version of the sign-in, which chain. A signature
/// for another domain or chain hashes differently and is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// Short string (≤ 31 ASCII characters), e.g. the world's name.
    pub name: String,
    /// Short string, e.g. `"1"`.
    pub version: String,
    /// Short string: `SN_MAIN`, `SN_SEPOLIA`, or a devnet's id.
    pub chain_id: String,
}

/// What one sign-in asks the wallet to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub address: Address,
    /// `0x`-prefixed hex felt, random, single use.
    pub nonce: String,
    /// Unix seconds.
    pub issued_at: u64,
    pub statement: String,
}

/// Why a challenge could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the typed data is invalid: {0}")]
    TypedData(String),
}

fn short(s: &str) -> Result<(), SignInError> {
    if s.is_empty() || s.len() > 31 || !s.is_ascii() {
        return Err(SignInError::TypedData(format!(
            "{s:?} is not a short string (1 to 31 ASCII characters)"
        )));
    }
    Ok(())
}

impl Domain {
    /// Checks that every field fits a SNIP-12 short string.
    pub fn validate(&self) -> Result<(), SignInError> {
        short(&self.name)?;
        short(&self.version)?;
        short(&self.chain_id)
    }
}

impl Challenge {
    /// A new challenge with a random 240-bit nonce (always below the field prime), from the
    /// OS-seeded cryptographic generator.
    pub fn new(address: Address, issued_at: u64, statement: String) -> Self {
        let bytes: [u8; 30] = rand::random();
        Self {
            address,
            nonce: format!("0x{}", realtime_core::address::hex_digits(&bytes)),
            issued_at,
            statement,
        }
    }

    /// The typed data JSON, as wallets sign it.
    pub fn typed_data(&self, domain: &Domain) -> Value {
        json!({
            "types": {
                "StarknetDomain": [
                    {"name": "name", "type": "shortstring"},
                    {"name": "version", "type": "shortstring"},
                    {"name": "chainId", "type": "shortstring"},
                    {"name": "revision", "type": "shortstring"}
                ],
                "SignIn": [
                    {"name": "address", "type": "ContractAddress"},
                    {"name": "nonce", "type": "felt"},
                    {"name": "issuedAt", "type": "timestamp"},
                    {"name": "statement", "type": "string"}
                ]
            },
            "primaryType": "SignIn",
            "domain": {
                "name": domain.name,
                "version": domain.version,
                "chainId": domain.chain_id,
                "revision": "1"
            },
            "message": {
                "address": self.address.to_string(),
                "nonce": self.nonce,
                "issuedAt": self.issued_at.to_string(),
                "statement": self.statement
            }
        })
    }

    /// The message hash the account contract verifies a signature against.
    pub fn message_hash(&self, domain: &Domain) -> Result<[u8; 32], SignInError> {
        message_hash(&self.typed_data(domain), self.address)
    }
}

/// The SNIP-12 message hash of `typed_data` for `signer`.
pub fn message_hash(typed_data: &Value, signer: Address) -> Result<[u8; 32], SignInError> {
    let typed: TypedData = serde_json::from_value(typed_data.clone())
        .map_err(|e| SignInError::TypedData(e.to_string()))?;
    let account = Felt::from_bytes_be(&signer.to_bytes());
    let hash = typed
        .message_hash(account)
        .map_err(|e| SignInError::TypedData(e.to_string()))?;
    Ok(hash.to_bytes_be())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sign-in signed by an independent implementation (the one wallets use), for devnet
    /// `--seed 0` account 0: our hash must be the one it signed.
    const ACCOUNT: &str = "0x64b48806902a367c8598f4f95c305e8c1a1acba5f082d294a43793113115691";
    const HASH: &str = "0x22091b3f8c0eec3c7fc9d919bd7904ed7e6d262a78c6b1cc9cc62fdc75da540";
    const PUBLIC_KEY: &str = "0x39d9e6ce352ad4530a0ef5d5a18fd3303c3606a7fa6ac5b620020ad681cc33b";
    const SIGNATURE: [&str; 2] = [
        "0x764c3ce62ddbf70e934dfda74198ba07a025e271bbf084a593026af9ab54889",
        "0x22cc2cc1d8d601243cdf9bc90a69d467c6a00b080de852146f58ff26b382bb4",
    ];

    fn vector() -> (Challenge, Domain) {
        (
            Challenge {
                address: ACCOUNT.parse().unwrap(),
                nonce: "0x5f3c9a".into(),
                issued_at: 1_764_090_000,
                statement: "Sign in to chat in example-world".into(),
            },
            Domain {
                name: "example-world".into(),
                version: "1".into(),
                chain_id: "SN_SEPOLIA".into(),
            },
        )
    }

    fn felt(s: &str) -> Felt {
        Felt::from_hex(s).unwrap()
    }

    #[test]
    fn reproduces_the_hash_wallets_sign() {
        let (c, d) = vector();
        let hash = Felt::from_bytes_be(&c.message_hash(&d).unwrap());
        assert_eq!(hash, felt(HASH));
        // And the wallet's signature verifies against it with the account's key.
        let ok = starknet_crypto::verify(
            &felt(PUBLIC_KEY),
            &hash,
            &felt(SIGNATURE[0]),
            &felt(SIGNATURE[1]),
        )
        .unwrap();
        assert!(ok);
    }

    #[test]
    fn every_field_and_the_domain_change_the_hash() {
        let (c, d) = vector();
        let base = c.message_hash(&d).unwrap();
        let mut other = c.clone();
        other.nonce = "0x5f3c9b".into();
        assert_ne!(other.message_hash(&d).unwrap(), base);
        let mut other = c.clone();
        other.issued_at += 1;
        assert_ne!(other.message_hash(&d).unwrap(), base);
        for domain in [
            Domain {
                chain_id: "SN_MAIN".into(),
                ..d.clone()
            },
            Domain {
                name: "other-world".into(),
                ..d.clone()
            },
            Domain {
                version: "2".into(),
                ..d.clone()
            },
        ] {
            assert_ne!(c.message_hash(&domain).unwrap(), base, "{domain:?}");
        }
    }

    #[test]
    fn nonces_are_fresh_felts() {
        let a: Address = "0x1".parse().unwrap();
        let one = Challenge::new(a, 0, "s".into());
        let two = Challenge::new(a, 0, "s".into());
        assert_ne!(one.nonce, two.nonce);
        assert_eq!(one.nonce.len(), 62);
        assert!(Felt::from_hex(&one.nonce).is_ok());
    }

    #[test]
    fn domains_must_be_short_strings() {
        let (_, d) = vector();
        assert!(d.validate().is_ok());
        assert!(
            Domain {
                name: "x".repeat(32),
                ..d.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            Domain {
                chain_id: String::new(),
                ..d
            }
            .validate()
            .is_err()
        );
    }
}
