//! The token source of wallet sign-in: a [`Session`](crate::Session) asks it before every
//! connection and every in-band refresh, and each sign-in costs a signature (a prompt on a
//! hardware wallet, a call to a remote signer) and an RPC call on the server, so it keeps
//! its token while enough of it is left, and concurrent asks share one sign-in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::Shared;
use realtime_core::Address;
use realtime_core::time::{now_ms, parse_rfc3339_ms};

use super::{Retries, SignedIn, Signer, http_client, sign_in_with};
use crate::session::{BoxFuture, TokenSource};

/// How a [`wallet_token`] source behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletTokenOptions {
    /// Sign in again once the token has this little left. A session asks its source at
    /// about four fifths of the remaining lifetime and refreshes only with a token other
    /// than its own, so on this source it signs in and refreshes once per token, when
    /// between a fifth of the margin and the margin is left: a signer that needs time (a
    /// prompt on a device) wants a larger margin.
    pub margin: Duration,
    /// Transient failures ([`is_transient`](super::SignInError::is_transient)) retried
    /// within one call, waiting the server's `retry_after` or a backoff in between. A
    /// session stops when its token source fails, so a busy server or a short outage
    /// should not end it.
    pub retries: u32,
}

impl Default for WalletTokenOptions {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(60),
            retries: 4,
        }
    }
}

/// A [`TokenSource`] that signs in with `signer` only when needed, with the default
/// [`WalletTokenOptions`]: it gives the last token while more than a minute of it is left,
/// and signs in again otherwise, or when the signer's address changed.
pub fn wallet_token<S: Signer + 'static>(base_url: &str, signer: S) -> TokenSource {
    wallet_token_with(base_url, signer, WalletTokenOptions::default())
}

/// [`wallet_token`] with other options.
///
/// Calls made while a sign-in is under way wait for that one, so a reconnect and a refresh
/// at the same moment cost one signature, and share its outcome. A failed sign-in is not
/// remembered: the next call tries again.
pub fn wallet_token_with<S: Signer + 'static>(
    base_url: &str,
    signer: S,
    options: WalletTokenOptions,
) -> TokenSource {
    let source = Arc::new(WalletTokens {
        base_url: base_url.to_owned(),
        signer: Arc::new(signer),
        http: http_client().map_err(|e| e.to_string()),
        options,
        state: Mutex::default(),
    });
    Arc::new(move || {
        let source = source.clone();
        Box::pin(async move { source.token().await })
    })
}

/// A sign-in under way, awaited by every call that arrived meanwhile.
type Flight = Shared<BoxFuture<Result<SignedIn, String>>>;

struct WalletTokens<S> {
    base_url: String,
    signer: Arc<S>,
    http: Result<reqwest::Client, String>,
    options: WalletTokenOptions,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The last token, with its expiry (ms since the epoch) and the address it is for.
    last: Option<(String, i64, Address)>,
    flight: Option<Flight>,
}

impl<S: Signer + 'static> WalletTokens<S> {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn token(&self) -> Result<String, String> {
        let address = self.signer.address();
        let margin = i64::try_from(self.options.margin.as_millis()).unwrap_or(i64::MAX);
        let flight = {
            let mut state = self.state();
            if let Some((token, expires_at_ms, for_address)) = &state.last
                && *for_address == address
                && expires_at_ms.saturating_sub(now_ms()) > margin
            {
                return Ok(token.clone());
            }
            match &state.flight {
                Some(flight) => flight.clone(),
                None => {
                    let flight = self.start();
                    state.flight = Some(flight.clone());
                    flight
                }
            }
        };
        let result = flight.clone().await;
        let mut state = self.state();
        // The first call to see the outcome files it; the others find it filed.
        if state.flight.as_ref().is_some_and(|f| f.ptr_eq(&flight)) {
            state.flight = None;
            if let Ok(s) = &result {
                // A token whose expiry cannot be read is used once and not kept.
                state.last =
                    parse_rfc3339_ms(&s.expires_at).map(|at| (s.token.clone(), at, address));
            }
        }
        result.map(|s| s.token)
    }

    /// A sign-in with retries of transient failures. It holds the signer and the HTTP
    /// client, not `self`: a flight that every caller left stays in `self`'s state for the
    /// next call, and the two must not hold each other, or neither would ever be freed.
    fn start(&self) -> Flight {
        let signer = self.signer.clone();
        let http = self.http.clone();
        let base_url = self.base_url.clone();
        let retries = self.options.retries;
        let flight: BoxFuture<Result<SignedIn, String>> = Box::pin(async move {
            let http = http?;
            sign_in_with(
                &http,
                &base_url,
                signer.as_ref(),
                &mut Retries::new(retries),
            )
            .await
            .map_err(|e| e.to_string())
        });
        flight.shared()
    }
}
