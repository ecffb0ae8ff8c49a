//! Per-address rate limits: what one signed-in address may do, whichever of its connections
//! (or HTTP requests) it uses, so reconnecting does not refill a bucket. The buckets live
//! behind [`realtime_bus::RateLimiter`]: with a shared bus they are kept in Redis, so an
//! address is limited once whichever instances its connections land on.

use std::sync::Arc;

use realtime_bus::{Rate, RateLimiter};
use realtime_core::{Address, ChannelName, ErrorCode};
use realtime_protocol::ErrorBody;

use crate::config::{ChannelLimits, Config};

/// What is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Publishing a message.
    Publish,
    /// Reading storage on request: history pages, and subscribes that replay or open a
    /// channel this instance does not follow yet.
    Read,
    /// Typing notices (beyond the ones coalesced per connection).
    Typing,
    /// Read marks: a client marks what its user has seen, often but not in floods.
    Mark,
    /// Reports to the moderators (`[moderation] reports_burst`, `reports_per_hour`).
    Report,
}

/// Read marks an address may send in a burst, and per second after it.
const MARK: Rate = Rate {
    burst: 20,
    per_second: 5.0,
};

/// Typing notices an address may send in a burst, and per second after it: a client sends
/// one every few seconds while its user types, so this only stops a flood.
const TYPING: Rate = Rate {
    burst: 10,
    per_second: 2.0,
};

impl Limit {
    fn namespace(self) -> &'static str {
        match self {
            Limit::Publish => "publish",
            Limit::Read => "read",
            Limit::Typing => "typing",
            Limit::Mark => "mark",
            Limit::Report => "report",
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Limit::Publish => "too many messages; slow down",
            Limit::Read => "too many history and recovery reads; slow down",
            Limit::Typing => "too many typing notices; slow down",
            Limit::Mark => "too many read marks; slow down",
            Limit::Report => "too many reports; the moderators have yours",
        }
    }
}

/// The per-address limits of `[limits]` over their buckets, built once at start.
pub struct RateLimits {
    buckets: Arc<dyn RateLimiter>,
    publish: Rate,
    read: Rate,
    report: Rate,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("publish", &self.publish)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    pub fn new(buckets: Arc<dyn RateLimiter>, config: &Config) -> Self {
        let limits = &config.limits;
        let moderation = &config.moderation;
        Self {
            report: Rate {
                burst: moderation.reports_burst,
                per_second: f64::from(moderation.reports_per_hour) / 3600.0,
            },
            buckets,
            publish: Rate {
                burst: limits.publish_burst,
                per_second: limits.publish_per_second,
            },
            read: Rate {
                burst: limits.read_burst,
                per_second: limits.read_per_second,
            },
        }
    }

    /// Where the buckets are (`memory`, `redis`), and how many takes fell back to this
    /// instance's buckets because the shared store could not be reached.
    pub fn status(&self) -> (&'static str, u64) {
        (self.buckets.kind(), self.buckets.fallbacks())
    }

    /// Takes one token of `subject`'s bucket at `rate`, or answers `rate_limited` with
    /// `refusal` and when to retry.
    async fn take_subject(
        &self,
        subject: &str,
        rate: Rate,
        refusal: String,
    ) -> Result<(), ErrorBody> {
        match self.buckets.take(subject, rate).await {
            Ok(()) => Ok(()),
            Err(wait) => {
                tracing::info!(subject, "rate limited");
                Err(ErrorBody::new(ErrorCode::RateLimited, refusal).retry_after(wait))
            }
        }
    }

    /// A post of `who` in `channel` under the channel's own limits (`[limits.channels]`):
    /// its publish rate, then its slow mode unless `exempt` (moderators).
    pub async fn take_in_channel(
        &self,
        who: Address,
        channel: &ChannelName,
        limits: &ChannelLimits,
        exempt: bool,
    ) -> Result<(), ErrorBody> {
        let who_key = who.to_short_hex();
        if let (Some(burst), Some(per_second)) = (limits.publish_burst, limits.publish_per_second) {
            self.take_subject(
                &format!("chan:{channel}:{who_key}"),
                Rate { burst, per_second },
                format!("too many messages in {channel}; slow down"),
            )
            .await?;
        }
        if let Some(every) = limits.slow_mode.filter(|_| !exempt) {
            self.take_subject(
                &format!("slow:{channel}:{who_key}"),
                Rate {
                    burst: 1,
                    per_second: 1.0 / every.as_secs_f64().max(0.001),
                },
                format!(
                    "{channel} is in slow mode: one message every {}",
                    realtime_core::duration::format(every)
                ),
            )
            .await?;
        }
        Ok(())
    }

    /// A new direct-message thread of `who`, at most `per_hour` an hour.
    pub async fn take_new_thread(&self, who: Address, per_hour: u32) -> Result<(), ErrorBody> {
        self.take_subject(
            &format!("threads:{}", who.to_short_hex()),
            Rate {
                burst: per_hour.max(1),
                per_second: f64::from(per_hour.max(1)) / 3600.0,
            },
            format!("you started {per_hour} new threads this hour, the most allowed; write in the ones you have"),
        )
        .await
    }

    /// Takes one `limit` action of `who`, or answers `rate_limited` with `retry_after_ms`.
    pub async fn take(&self, limit: Limit, who: Address) -> Result<(), ErrorBody> {
        let subject = format!("{}:{}", limit.namespace(), who.to_short_hex());
        let rate = match limit {
            Limit::Publish => self.publish,
            Limit::Read => self.read,
            Limit::Typing => TYPING,
            Limit::Mark => MARK,
            Limit::Report => self.report,
        };
        match self.buckets.take(&subject, rate).await {
            Ok(()) => Ok(()),
            Err(wait) => {
                tracing::info!(address = %who, limit = limit.namespace(), "rate limited");
                Err(ErrorBody::new(ErrorCode::RateLimited, limit.refusal()).retry_after(wait))
            }
        }
    }
}
