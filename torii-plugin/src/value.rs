//! Model values as the projection keeps them: a model record flattened to dotted paths
//! (`base.coord_x`, `coord.x`, `items.0`) mapped to scalars. Flattening makes Torii's three
//! kinds of update (full record, record without keys, one member) the same operation: set
//! these paths.

use std::collections::BTreeMap;
use std::fmt;

use realtime_core::Address;
use serde_json::Value as Json;

use crate::proto::types::{self, primitive, ty};

/// One leaf value of a model.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// felt252, ContractAddress, ClassHash, EthAddress, u256: 32 big-endian bytes.
    Felt([u8; 32]),
    /// i8 … i128.
    Int(i128),
    /// u8 … u128.
    UInt(u128),
    Bool(bool),
    /// ByteArray.
    Text(String),
    /// The selected option of an enum.
    Variant(String),
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.canonical())
    }
}

/// A u128 as 32 big-endian bytes.
pub fn number_bytes(u: u128) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[16..].copy_from_slice(&u.to_be_bytes());
    b
}

impl Scalar {
    /// One spelling per value, used for comparisons, group ids and join keys: felts as `0x`
    /// with minimal lower-case hex, integers in decimal, booleans as `true`/`false`.
    pub fn canonical(&self) -> String {
        match self {
            Scalar::Felt(b) => realtime_core::address::short_hex(b),
            Scalar::Int(i) => i.to_string(),
            Scalar::UInt(u) => u.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Text(s) | Scalar::Variant(s) => s.clone(),
        }
    }

    /// The value as a 256-bit unsigned number, when it is one (felts, non-negative integers),
    /// so `1` and `0x1` compare equal whatever the field's type.
    pub fn as_number(&self) -> Option<[u8; 32]> {
        match self {
            Scalar::Felt(b) => Some(*b),
            Scalar::UInt(u) => Some(number_bytes(*u)),
            Scalar::Int(i) if *i >= 0 => Some(number_bytes(i.unsigned_abs())),
            _ => None,
        }
    }

    /// Whether the value is zero, false or empty.
    pub fn is_zero(&self) -> bool {
        match self {
            Scalar::Felt(b) => b.iter().all(|x| *x == 0),
            Scalar::Int(i) => *i == 0,
            Scalar::UInt(u) => *u == 0,
            Scalar::Bool(b) => !b,
            Scalar::Text(s) | Scalar::Variant(s) => s.is_empty(),
        }
    }

    /// The value as an account address, when it is a non-zero felt.
    pub fn as_address(&self) -> Option<Address> {
        match self {
            Scalar::Felt(b) => Address::from_bytes(*b).ok(),
            _ => None,
        }
    }

    /// The value as a map coordinate.
    pub fn as_u32(&self) -> Option<u32> {
        match self {
            Scalar::UInt(u) => u32::try_from(*u).ok(),
            Scalar::Int(i) => u32::try_from(*i).ok(),
            Scalar::Felt(b) if b[..28].iter().all(|x| *x == 0) => {
                Some(u32::from_be_bytes([b[28], b[29], b[30], b[31]]))
            }
            _ => None,
        }
    }

    /// JSON for clients: numbers that JavaScript holds exactly stay numbers, larger integers
    /// become decimal strings, and felts (addresses, hashes, u256) are `0x` and 64 lower-case
    /// hex digits, the one spelling of every felt on the wire.
    pub fn to_json(&self) -> Json {
        const SAFE: u128 = (1 << 53) - 1;
        match self {
            Scalar::UInt(u) if *u <= SAFE => Json::from(*u as u64),
            Scalar::Int(i) if i.unsigned_abs() <= SAFE => Json::from(*i as i64),
            Scalar::Bool(b) => Json::Bool(*b),
            Scalar::Felt(b) => Json::String(realtime_core::address::full_hex(b)),
            other => Json::String(other.canonical()),
        }
    }
}

/// A model record: dotted path → value.
pub type Record = BTreeMap<String, Scalar>;

/// Flattens a model struct into `(path, value, is_key)` leaves.
pub fn flatten(model: &types::Struct) -> Vec<(String, Scalar, bool)> {
    let mut out = Vec::new();
    for m in &model.children {
        if let Some(t) = &m.ty {
            flatten_ty(&m.name, t, m.key, &mut out);
        }
    }
    out
}

fn flatten_ty(path: &str, t: &types::Ty, key: bool, out: &mut Vec<(String, Scalar, bool)>) {
    let Some(inner) = &t.ty_type else {
        return;
    };
    match inner {
        ty::TyType::Primitive(p) => {
            if let Some(s) = primitive(p) {
                out.push((path.to_owned(), s, key));
            }
        }
        ty::TyType::Struct(s) => {
            for m in &s.children {
                if let Some(t) = &m.ty {
                    flatten_ty(&format!("{path}.{}", m.name), t, key, out);
                }
            }
        }
        ty::TyType::Enum(e) => {
            if let Some(opt) = e.options.get(e.option as usize) {
                out.push((path.to_owned(), Scalar::Variant(opt.name.clone()), key));
                if let Some(t) = &opt.ty {
                    flatten_ty(&format!("{path}.{}", opt.name), t, key, out);
                }
            }
        }
        ty::TyType::Tuple(a) | ty::TyType::Array(a) => {
            for (i, t) in a.children.iter().enumerate() {
                flatten_ty(&format!("{path}.{i}"), t, key, out);
            }
        }
        ty::TyType::FixedSizeArray(a) => {
            for (i, t) in a.children.iter().enumerate() {
                flatten_ty(&format!("{path}.{i}"), t, key, out);
            }
        }
        ty::TyType::Bytearray(s) => out.push((path.to_owned(), Scalar::Text(s.clone()), key)),
    }
}

fn be32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let n = bytes.len().min(32);
    out[32 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    out
}

fn be16(bytes: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = bytes.len().min(16);
    out[16 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    out
}

fn primitive(p: &types::Primitive) -> Option<Scalar> {
    use primitive::PrimitiveType as P;
    Some(match p.primitive_type.as_ref()? {
        P::I8(v) | P::I16(v) | P::I32(v) => Scalar::Int(i128::from(*v)),
        P::I64(v) => Scalar::Int(i128::from(*v)),
        P::I128(b) => Scalar::Int(i128::from_be_bytes(be16(b))),
        P::U8(v) | P::U16(v) | P::U32(v) => Scalar::UInt(u128::from(*v)),
        P::U64(v) => Scalar::UInt(u128::from(*v)),
        P::U128(b) => Scalar::UInt(u128::from_be_bytes(be16(b))),
        P::Bool(b) => Scalar::Bool(*b),
        P::U256(b) | P::Felt252(b) | P::ClassHash(b) | P::ContractAddress(b) | P::EthAddress(b) => {
            Scalar::Felt(be32(b))
        }
    })
}

/// Builders for model structs, used by tests and the fake Torii.
pub mod build {
    use super::*;

    pub fn felt(bytes: [u8; 32]) -> types::Ty {
        prim(primitive::PrimitiveType::Felt252(bytes.to_vec()))
    }

    pub fn address(a: Address) -> types::Ty {
        prim(primitive::PrimitiveType::ContractAddress(
            a.to_bytes().to_vec(),
        ))
    }

    pub fn u32(v: u32) -> types::Ty {
        prim(primitive::PrimitiveType::U32(v))
    }

    pub fn u8(v: u8) -> types::Ty {
        prim(primitive::PrimitiveType::U8(u32::from(v)))
    }

    pub fn boolean(v: bool) -> types::Ty {
        prim(primitive::PrimitiveType::Bool(v))
    }

    pub fn prim(p: primitive::PrimitiveType) -> types::Ty {
        types::Ty {
            ty_type: Some(ty::TyType::Primitive(types::Primitive {
                primitive_type: Some(p),
            })),
        }
    }

    /// A nested struct value.
    pub fn nested(name: &str, members: Vec<types::Member>) -> types::Ty {
        types::Ty {
            ty_type: Some(ty::TyType::Struct(types::Struct {
                name: name.into(),
                children: members,
            })),
        }
    }

    pub fn member(name: &str, ty: types::Ty, key: bool) -> types::Member {
        types::Member {
            name: name.into(),
            ty: Some(ty),
            key,
        }
    }

    /// A model record `tag` with `members`.
    pub fn model(tag: &str, members: Vec<types::Member>) -> types::Struct {
        types::Struct {
            name: tag.into(),
            children: members,
        }
    }

    /// Turns a flat felt into the 32-byte form from a small number.
    pub fn felt_of(n: u64) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&n.to_be_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::build::*;
    use super::*;

    #[test]
    fn nested_members_flatten_to_dotted_paths() {
        let m = model(
            "s1_eternum-Structure",
            vec![
                member("entity_id", u32(7), true),
                member("owner", address("0xabc".parse().unwrap()), false),
                member(
                    "base",
                    nested(
                        "StructureBase",
                        vec![
                            member("coord_x", u32(10), false),
                            member("coord_y", u32(20), false),
                        ],
                    ),
                    false,
                ),
            ],
        );
        let flat = flatten(&m);
        let paths: Vec<&str> = flat.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            vec!["entity_id", "owner", "base.coord_x", "base.coord_y"]
        );
        assert!(flat[0].2, "entity_id is a key");
        assert_eq!(flat[2].1.as_u32(), Some(10));
        assert_eq!(flat[1].1.canonical(), "0xabc");
        assert_eq!(flat[1].1.as_address(), Some("0xabc".parse().unwrap()));
    }

    #[test]
    fn json_keeps_javascript_exact() {
        assert_eq!(Scalar::UInt(42).to_json(), serde_json::json!(42));
        assert_eq!(
            Scalar::UInt(1 << 60).to_json(),
            serde_json::json!("1152921504606846976")
        );
        assert_eq!(
            Scalar::Felt(felt_of(255)).to_json(),
            serde_json::json!(format!("0x{}ff", "0".repeat(62)))
        );
        assert_eq!(Scalar::Felt(felt_of(255)).canonical(), "0xff");
        assert_eq!(Scalar::Felt([0; 32]).canonical(), "0x0");
        assert!(Scalar::Felt([0; 32]).is_zero());
    }
}
