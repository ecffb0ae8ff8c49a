//! Per-address rate limits: what one signed-in address may do, whichever of its connections
//! (or HTTP requests) it uses, so reconnecting does not refill a bucket. The buckets live
//! behind [`realtime_bus::RateLimiter`], so a shared store can make them cluster-wide.

use realtime_bus::Rate;
use realtime_core::{Address, ErrorCode};
use realtime_protocol::ErrorBody;

use crate::state::AppState;

/// What is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Publishing a message.
    Publish,
    /// Reading storage on request: history pages, and subscribes that replay or open a
    /// channel this instance does not follow yet.
    Read,
}

impl Limit {
    fn namespace(self) -> &'static str {
        match self {
            Limit::Publish => "publish",
            Limit::Read => "read",
        }
    }

    fn rate(self, app: &AppState) -> Rate {
        let l = &app.config.limits;
        match self {
            Limit::Publish => Rate {
                burst: l.publish_burst,
                per_second: l.publish_per_second,
            },
            Limit::Read => Rate {
                burst: l.read_burst,
                per_second: l.read_per_second,
            },
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Limit::Publish => "too many messages; slow down",
            Limit::Read => "too many history and recovery reads; slow down",
        }
    }
}

/// Takes one `limit` action of `who`, or answers `rate_limited` with `retry_after_ms`.
pub async fn take(app: &AppState, limit: Limit, who: Address) -> Result<(), ErrorBody> {
    let subject = format!("{}:{}", limit.namespace(), who.to_short_hex());
    match app.rate_limits.take(&subject, limit.rate(app)).await {
        Ok(()) => Ok(()),
        Err(wait) => {
            tracing::info!(address = %who, limit = limit.namespace(), "rate limited");
            Err(ErrorBody::new(ErrorCode::RateLimited, limit.refusal()).retry_after(wait))
        }
    }
}
