//! Starknet wallet sign-in for torii-realtime.
//!
//! - [`challenge`]: the SNIP-12 (revision 1) typed data a wallet signs to sign in, in the
//!   exact JSON shape wallets take (`account.signMessage` in starknet.js), and its message
//!   hash, computed by starknet-rs so it matches what the account contract checks.
//! - [`rpc`]: asks the account contract itself whether it accepts a signature.

pub mod challenge;
pub mod rpc;

pub use challenge::{Challenge, Domain, SignInError};
pub use rpc::{Rpc, VerifyError};
