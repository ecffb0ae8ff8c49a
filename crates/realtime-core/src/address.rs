//! Starknet addresses. A wallet may spell the same account as `0x49d3…`, `0x049D3…` or with
//! all 64 digits; identity must not depend on the spelling, so every address is parsed into
//! its 32-byte value and printed one way only: `0x` followed by 64 lower-case hex digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The Stark field prime `2^251 + 17·2^192 + 1`, big-endian. A felt is strictly below it.
const FIELD_PRIME: [u8; 32] = {
    let mut p = [0u8; 32];
    p[0] = 0x08;
    p[7] = 0x11;
    p[31] = 0x01;
    p
};

/// A non-zero field element used as an account or contract address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address([u8; 32]);

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("an address starts with 0x")]
    MissingPrefix,
    #[error("an address has 1 to 64 hex digits after 0x")]
    BadLength,
    #[error("an address contains only hex digits after 0x")]
    NotHex,
    #[error("the value is not below the Stark field prime")]
    OutOfRange,
    #[error("the zero address is not an account")]
    Zero,
}

/// `bytes` as lower-case hex digits, two per byte, no prefix.
pub fn hex_digits(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// A 32-byte felt as `0x` and 64 lower-case hex digits: the spelling of every felt on the
/// wire (addresses, entity ids, felt-typed model values).
pub fn full_hex(bytes: &[u8; 32]) -> String {
    format!("0x{}", hex_digits(bytes))
}

/// A 32-byte felt as `0x` and minimal lower-case hex (`0x0` for zero): the short spelling
/// group ids and rule values are compared in.
pub fn short_hex(bytes: &[u8; 32]) -> String {
    let hex = hex_digits(bytes);
    let trimmed = hex.trim_start_matches('0');
    format!("0x{}", if trimmed.is_empty() { "0" } else { trimmed })
}

/// Why a string is not a felt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeltError {
    #[error("a felt is 0x and 1 to 64 hex digits, or 1 to 78 decimal digits")]
    Malformed,
    #[error("a felt is not negative")]
    Negative,
    #[error("the value is not below the Stark field prime")]
    OutOfRange,
}

/// Parses a felt written as `0x` hex or as decimal (how starknet.js sends signatures) into
/// 32 big-endian bytes. Only the canonical value is accepted: a value at or above the field
/// prime is refused, never reduced, so `p` or `r + p` cannot stand for `0` or `r`.
pub fn parse_felt(input: &str) -> Result<[u8; 32], FeltError> {
    let bytes = if let Some(hex) = input
        .strip_prefix("0x")
        .or_else(|| input.strip_prefix("0X"))
    {
        let digits = hex.trim_start_matches('0');
        if hex.is_empty() || digits.len() > 64 {
            return Err(FeltError::Malformed);
        }
        let mut bytes = [0u8; 32];
        for (i, c) in digits.bytes().rev().enumerate() {
            let nibble = (c as char).to_digit(16).ok_or(FeltError::Malformed)? as u8;
            bytes[31 - i / 2] |= if i % 2 == 0 { nibble } else { nibble << 4 };
        }
        bytes
    } else {
        if input.starts_with('-') {
            return Err(FeltError::Negative);
        }
        if input.is_empty() || input.len() > 78 || !input.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FeltError::Malformed);
        }
        // bytes = bytes × 10 + digit, in big-endian base 256; a carry out of the top byte
        // means at least 2^256, far above the prime.
        let mut bytes = [0u8; 32];
        for d in input.bytes() {
            let mut carry = u16::from(d - b'0');
            for b in bytes.iter_mut().rev() {
                let v = u16::from(*b) * 10 + carry;
                *b = (v & 0xff) as u8;
                carry = v >> 8;
            }
            if carry != 0 {
                return Err(FeltError::OutOfRange);
            }
        }
        bytes
    };
    if bytes >= FIELD_PRIME {
        return Err(FeltError::OutOfRange);
    }
    Ok(bytes)
}

impl Address {
    /// `0x1`: the server's own messages (moderation notices) are sent as it. Starknet
    /// reserves this address for a system contract, so no player's account can have it.
    pub const SYSTEM: Address = {
        let mut felt = [0; 32];
        felt[31] = 1;
        Address(felt)
    };

    /// Whether the address can be a deployed contract's: Starknet contract addresses are
    /// below 2^251.
    pub fn is_contract_address(&self) -> bool {
        self.0[0] < 0x08
    }

    /// The short spelling (`0x1f`), see [`short_hex`].
    pub fn to_short_hex(&self) -> String {
        short_hex(&self.0)
    }

    /// The address as 32 big-endian bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// Builds an address from 32 big-endian bytes, as Torii sends felts.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, AddressError> {
        if bytes >= FIELD_PRIME {
            return Err(AddressError::OutOfRange);
        }
        if bytes == [0u8; 32] {
            return Err(AddressError::Zero);
        }
        Ok(Self(bytes))
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let digits = input
            .strip_prefix("0x")
            .or_else(|| input.strip_prefix("0X"))
            .ok_or(AddressError::MissingPrefix)?;
        if digits.is_empty() {
            return Err(AddressError::BadLength);
        }
        let digits = digits.trim_start_matches('0');
        if digits.len() > 64 {
            return Err(AddressError::BadLength);
        }
        let mut bytes = [0u8; 32];
        // Fill from the least significant digit so short spellings land right-aligned.
        for (i, c) in digits.bytes().rev().enumerate() {
            let nibble = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(AddressError::NotHex),
            };
            bytes[31 - i / 2] |= if i % 2 == 0 { nibble } else { nibble << 4 };
        }
        Self::from_bytes(bytes)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&full_hex(&self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANON: &str = "0x049d36570d4e46f48e99674bd3fcc84644ddd6b96f7c741b1562b82f9e004dc7";

    #[test]
    fn every_spelling_is_one_identity() {
        for s in [
            CANON,
            "0x49d36570d4e46f48e99674bd3fcc84644ddd6b96f7c741b1562b82f9e004dc7",
            "0X049D36570D4E46F48E99674BD3FCC84644DDD6B96F7C741B1562B82F9E004DC7",
            "0x00049d36570d4e46f48e99674bd3fcc84644ddd6b96f7c741b1562b82f9e004dc7",
        ] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), CANON, "{s}");
        }
        let short: Address = "0x1".parse().unwrap();
        assert_eq!(short.to_string(), format!("0x{}1", "0".repeat(63)));
        assert_eq!(short.to_short_hex(), "0x1");
        assert_eq!(short_hex(&[0; 32]), "0x0");
    }

    #[test]
    fn rejects_what_is_not_a_felt() {
        assert_eq!("49d3".parse::<Address>(), Err(AddressError::MissingPrefix));
        assert_eq!("0x".parse::<Address>(), Err(AddressError::BadLength));
        assert_eq!("0xzz".parse::<Address>(), Err(AddressError::NotHex));
        assert_eq!("0x0".parse::<Address>(), Err(AddressError::Zero));
        assert_eq!(
            format!("0x1{}", "0".repeat(64)).parse::<Address>(),
            Err(AddressError::BadLength)
        );
        // The prime itself and anything above it are out of range; P - 1 is fine.
        let p = "0x800000000000011000000000000000000000000000000000000000000000001";
        assert_eq!(p.parse::<Address>(), Err(AddressError::OutOfRange));
        let p_minus_1 = "0x800000000000011000000000000000000000000000000000000000000000000";
        assert!(p_minus_1.parse::<Address>().is_ok());
    }

    #[test]
    fn bytes_are_spelled_as_two_lower_case_digits_each() {
        assert_eq!(hex_digits(&[]), "");
        assert_eq!(hex_digits(&[0x00, 0x0a, 0xff, 0x61]), "000aff61");
        let mut felt = [0u8; 32];
        felt[31] = 0x61;
        assert_eq!(full_hex(&felt), format!("0x{}61", "0".repeat(62)));
        assert_eq!(short_hex(&felt), "0x61");
        assert_eq!(short_hex(&[0u8; 32]), "0x0");
    }

    #[test]
    fn felts_are_read_in_hex_and_decimal_and_never_reduced() {
        let p_dec = "3618502788666131213697322783095070105623107215331596699973092056135872020481";
        let p_hex = "0x800000000000011000000000000000000000000000000000000000000000001";
        let one = {
            let mut b = [0u8; 32];
            b[31] = 1;
            b
        };
        assert_eq!(parse_felt("1"), Ok(one));
        assert_eq!(parse_felt("0x1"), Ok(one));
        assert_eq!(parse_felt("0x0001"), Ok(one));
        assert_eq!(parse_felt("0"), Ok([0; 32]));
        assert_eq!(parse_felt(p_dec), Err(FeltError::OutOfRange));
        assert_eq!(parse_felt(p_hex), Err(FeltError::OutOfRange));
        // p + 1 would reduce to 1.
        let p_plus_1 =
            "3618502788666131213697322783095070105623107215331596699973092056135872020482";
        assert_eq!(parse_felt(p_plus_1), Err(FeltError::OutOfRange));
        assert_eq!(parse_felt(&"9".repeat(78)), Err(FeltError::OutOfRange));
        let p_minus_1 =
            "3618502788666131213697322783095070105623107215331596699973092056135872020480";
        assert_eq!(
            short_hex(&parse_felt(p_minus_1).unwrap()),
            "0x800000000000011000000000000000000000000000000000000000000000000"
        );
        assert_eq!(parse_felt("-5"), Err(FeltError::Negative));
        for bad in ["", "0x", "12a", "+5", " 5", "0xg", &"1".repeat(79)] {
            assert_eq!(parse_felt(bad), Err(FeltError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn contract_addresses_are_below_2_251() {
        let top = format!("0x7{}", "f".repeat(62));
        assert!(top.parse::<Address>().unwrap().is_contract_address());
        let over = format!("0x8{}", "0".repeat(62));
        assert!(!over.parse::<Address>().unwrap().is_contract_address());
    }

    #[test]
    fn serde_round_trip_uses_canonical_form() {
        let a: Address = serde_json::from_str("\"0x49D3\"").unwrap();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            format!("\"0x{}49d3\"", "0".repeat(60))
        );
    }
}
