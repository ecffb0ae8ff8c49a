//! Moderation as players and moderators meet it:
//!
//! - the `report` op and `POST /v1/reports`: a player reports a message (one it may read,
//!   direct messages included) or a note (one it may see), once, within a rate limit;
//! - `api`: the moderators' HTTP API under `/v1/moderation/`: the review queue and its
//!   decisions (`queue`), bans, mutes, revocations and removals (`actions`), the sanctions
//!   in force and the audit log;
//! - [`control`]: every action reaches every instance at once;
//! - [`worker`]: each new job of the review queue is announced to moderators, once.

mod actions;
mod api;
pub mod control;
mod queue;
pub mod worker;

pub use api::AuditQuery;
pub use queue::ListQuery;

use axum::Router;
use axum::routing::post;
use realtime_core::policy::Action;
use realtime_core::time::now_ms;
use realtime_core::{Address, ErrorCode};
use realtime_protocol::moderation::{MAX_COMMENT_CHARS, ReportArgs, ReportOk};
use realtime_protocol::{ErrorBody, Op};
use realtime_store::{NewReport, ReportTarget};

use crate::chat::store_error;
use crate::rate::Limit;
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, Stateless, not_registered};
use crate::state::{App, AppState};

/// The moderation feature.
#[derive(Debug, Default)]
pub struct Moderation;

impl Feature for Moderation {
    fn name(&self) -> &'static str {
        "moderation"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["report"]
    }

    fn routes(&self) -> Router<App> {
        Router::new()
            .route("/v1/reports", post(api::report))
            .merge(api::routes())
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(Stateless(handle))
    }
}

fn handle<'a>(conn: Conn<'a>, id: u64, op: Op) -> BoxFuture<'a, Result<(), ErrorBody>> {
    Box::pin(async move {
        let who = conn.signed_in()?;
        match op {
            Op::Report(args) => conn.reply_ok(id, &report(conn.app, who, args).await?),
            other => return Err(not_registered("moderation", &other)),
        }
        Ok(())
    })
}

/// Files `who`'s report, after checking that it may read what it reports.
pub(crate) async fn report(
    app: &AppState,
    who: Address,
    args: ReportArgs,
) -> Result<ReportOk, ErrorBody> {
    if let Some(c) = &args.comment
        && c.chars().count() > MAX_COMMENT_CHARS
    {
        return Err(ErrorBody::new(
            ErrorCode::BadRequest,
            format!("a comment has at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    let not_found = || ErrorBody::new(ErrorCode::NotFound, "nothing to report there");
    let channel;
    let target = match (&args.message, args.note) {
        (Some(m), None) => {
            channel = app
                .world
                .permissions
                .canonical(crate::features::channel_in_path(&m.channel).map_err(|e| e.0)?);
            app.world
                .permissions
                .check(Some(who), &channel, Action::Read)?;
            ReportTarget::Message {
                channel: &channel,
                seq: m.seq,
            }
        }
        (None, Some(note)) => {
            let stored = app
                .storage
                .store
                .note(note)
                .await
                .map_err(|e| store_error(&e))?
                .filter(|n| n.removed.is_none())
                .ok_or_else(not_found)?;
            if !app
                .world
                .permissions
                .sees(&stored.visibility, stored.author, Some(who))
            {
                return Err(not_found());
            }
            ReportTarget::Note { id: note }
        }
        _ => {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                "report names exactly one of message and note",
            ));
        }
    };
    app.delivery.rate_limits.take(Limit::Report, who).await?;
    let filed = app
        .storage
        .store
        .report(NewReport {
            target,
            reporter: who,
            reason: args.reason.as_str(),
            comment: args.comment.as_deref(),
            now_ms: now_ms(),
        })
        .await
        .map_err(|e| store_error(&e))?
        .ok_or_else(not_found)?;
    if !filed.duplicate {
        tracing::info!(
            job = filed.job.id,
            reports = filed.job.reports,
            "report filed"
        );
        app.moderation.wake.notify_one();
    }
    Ok(ReportOk {
        duplicate: filed.duplicate,
    })
}
