//! Tells moderators of each new job of the review queue, once: a message in the
//! moderators' channel ([`crate::config::MODERATION_CHANNEL`]). Every instance runs a worker; each
//! claims due jobs for a lease ([`realtime_store::Store::claim_jobs`]), so on Postgres
//! several workers never take one job, and a job whose worker died is taken again when its
//! lease runs out. The message's id is the job's, so a job told twice (a worker that died
//! after posting, before marking it) is still stored once.

use std::time::Duration;

use realtime_core::time::now_ms;
use realtime_core::{Address, ChannelName};
use realtime_store::{Job, JobKind};

use crate::publisher::{Job as Publish, Reply};
use crate::state::App;

/// How long a claim holds before another worker may take the job.
const LEASE: Duration = Duration::from_secs(5);
/// Most jobs claimed at once.
const BATCH: u32 = 50;
/// How often the queue is looked at when nothing wakes the worker.
const POLL: Duration = Duration::from_millis(500);
/// How long a failed notice waits before its next attempt.
const RETRY: Duration = Duration::from_secs(5);
/// Characters of a held message quoted in its notice.
const QUOTE: usize = 200;

/// Claims and announces jobs until shutdown.
pub async fn run(app: App) {
    let Ok(channel) = ChannelName::new(crate::config::MODERATION_CHANNEL) else {
        return;
    };
    loop {
        tokio::select! {
            () = app.moderation.wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
            () = app.shutdown.cancelled() => return,
        }
        let lease = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        let jobs = match app.storage.store.claim_jobs(now_ms(), lease, BATCH).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim moderation jobs; retrying");
                continue;
            }
        };
        for job in jobs {
            tell(&app, &channel, &job).await;
        }
    }
}

/// Posts the notice of `job` and records the outcome.
async fn tell(app: &App, channel: &ChannelName, job: &Job) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.delivery
        .publisher
        .submit(Publish {
            channel: channel.clone(),
            sender: Address::SYSTEM,
            body: notice(job),
            client_msg_id: format!("job-{}", job.id),
            reply: Reply::Waiting(tx),
        })
        .await;
    let store = &app.storage.store;
    let outcome = match rx.await {
        Ok(Ok(_)) => store.job_notified(job.id, now_ms()).await,
        Ok(Err(e)) => {
            tracing::warn!(job = job.id, code = %e.code, error = %e.message, "moderation notice not stored; retrying");
            let retry = i64::try_from(RETRY.as_millis()).unwrap_or(0);
            store.job_retry(job.id, now_ms() + retry).await
        }
        // The publisher is gone: shutting down; the lease lets another worker take it.
        Err(_) => Ok(()),
    };
    if let Err(e) = outcome {
        tracing::warn!(job = job.id, error = %e, "cannot record a moderation notice");
    }
}

/// The text moderators see for `job`.
pub fn notice(job: &Job) -> String {
    let place = match (&job.channel, job.seq, job.note_id) {
        (_, _, Some(note)) => format!("note {note}"),
        (Some(channel), Some(seq), _) => format!("{channel}#{seq}"),
        (Some(channel), None, _) => channel.clone(),
        (None, _, _) => "?".into(),
    };
    match job.kind {
        JobKind::Held => {
            let body = job.body.as_deref().unwrap_or_default();
            let mut quote: String = body.chars().take(QUOTE).collect();
            if body.chars().count() > QUOTE {
                quote.push('…');
            }
            format!(
                "job {}: held in {place} from {} by rule {:?}: {quote}",
                job.id,
                job.author,
                job.rule.as_deref().unwrap_or_default()
            )
        }
        JobKind::Report => format!("job {}: {place} by {} reported", job.id, job.author),
    }
}
