//! Starknet wallet sign-in for torii-realtime.
//!
//! - [`challenge`]: the SNIP-12 (revision 1) typed data a wallet signs to sign in, in the
//!   exact JSON shape wallets take (`account.signMessage` in starknet.js), and its message
//!   hash, computed by starknet-rs so it matches what the account contract checks.
//! - [`rpc`]: asks the account contract itself whether it accepts a signature.
//! - [`config`]: the `[auth]` sections of the configuration file and their rules.
//! - [`token`]: session tokens the server mints and verifies (HS256 or EdDSA JWTs, a key ring
//!   with ids for rotation, bound to a world).
//! - [`secret`]: the session secret, inline or from a file created on first start.
//! - [`external`]: tokens from a game's own session backend (a secret, a PEM key or JWKS).
//!
//! The `tokens` feature (on by default) brings `config`, `token`, `secret` and `external`;
//! without it the crate is the challenge and the RPC check, for clients that sign in.
//!
//! Whatever the credential, the result is an [`Identity`]: the canonical address and when
//! the credential stops being valid.

pub mod challenge;
#[cfg(feature = "tokens")]
pub mod config;
#[cfg(feature = "tokens")]
pub mod external;
pub mod rpc;
#[cfg(feature = "tokens")]
pub mod secret;
#[cfg(feature = "tokens")]
pub mod token;

pub use challenge::{Challenge, Domain, SignInError};
pub use rpc::{Rpc, VerifyError};
#[cfg(feature = "tokens")]
pub use token::{Identity, TokenError, Tokens};
