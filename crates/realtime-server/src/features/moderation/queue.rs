//! The review queue in the moderators' API: list jobs, show one with its reports, and
//! decide it. Resolving a held message publishes it (as its author, with its client
//! message id, so deciding twice cannot post it twice); dismissing drops it. Resolving a
//! report can remove what was reported in the same call.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use realtime_core::time::{now_ms, rfc3339_ms};
use realtime_core::{ChannelName, ErrorCode};
use realtime_protocol::moderation::{DecideArgs, JobView, JobsPage, ReportView};
use realtime_store::{Audit, Job, JobKind, JobState, ReportEntry};
use schemars::JsonSchema;
use serde::Deserialize;

use super::api::{body, moderator, page_size, reason, stored};
use crate::dm::Intent;
use crate::publisher::{Job as Publish, Reply};
use crate::state::App;
use crate::web::ApiError;

pub(super) fn job_view(job: &Job, reports: &[ReportEntry]) -> JobView {
    JobView {
        id: job.id,
        kind: match job.kind {
            JobKind::Held => "held",
            JobKind::Report => "report",
        }
        .into(),
        state: job.state.as_str().into(),
        channel: job.channel.clone(),
        seq: job.seq,
        note: job.note_id,
        author: job.author.to_string(),
        body: job.body.clone(),
        rule: job.rule.clone(),
        reports: job.reports,
        created_at: rfc3339_ms(job.created_at_ms),
        updated_at: rfc3339_ms(job.updated_at_ms),
        decided_by: job.decided_by.clone(),
        decision_reason: job.decision_reason.clone(),
        report_list: reports
            .iter()
            .map(|r| ReportView {
                reporter: r.reporter.clone(),
                reason: r.reason.clone(),
                comment: r.comment.clone(),
                at: rfc3339_ms(r.created_at_ms),
            })
            .collect(),
    }
}

/// The query of `GET /v1/moderation/jobs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `pending` (the default), `resolved`, `dismissed` or `all`.
    state: Option<String>,
    /// The `next` of the previous page: jobs after this id.
    after: Option<u64>,
    /// Jobs per page, 1 to 200 (default 50).
    limit: Option<u32>,
}

/// `GET /v1/moderation/jobs?state=&after=&limit=`: jobs, oldest first.
pub async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<JobsPage>, ApiError> {
    moderator(&app, &headers)?;
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let state = match q.state.as_deref().unwrap_or("pending") {
        "all" => None,
        s => Some(JobState::parse(s).ok_or_else(|| {
            ApiError::new(
                ErrorCode::BadRequest,
                "state is pending, resolved, dismissed or all",
            )
        })?),
    };
    let limit = page_size(q.limit)?;
    let jobs = app
        .storage
        .store
        .jobs(state, q.after, limit)
        .await
        .map_err(|e| stored(&e))?;
    let next = (jobs.len() == limit as usize)
        .then(|| jobs.last().map(|j| j.id))
        .flatten();
    Ok(Json(JobsPage {
        jobs: jobs.iter().map(|j| job_view(j, &[])).collect(),
        next,
    }))
}

async fn load(app: &App, id: u64) -> Result<Job, ApiError> {
    app.storage
        .store
        .job(id)
        .await
        .map_err(|e| stored(&e))?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no job {id}")))
}

/// `GET /v1/moderation/jobs/{id}`: a job with its reports.
pub async fn show(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Result<Json<JobView>, ApiError> {
    moderator(&app, &headers)?;
    let job = load(&app, id).await?;
    let reports = app
        .storage
        .store
        .reports_of(id)
        .await
        .map_err(|e| stored(&e))?;
    Ok(Json(job_view(&job, &reports)))
}

/// Publishes a held message as its author wrote it (masked where a rule masked it).
async fn publish_held(app: &App, job: &Job) -> Result<(), ApiError> {
    let (Some(channel), Some(text), Some(client_msg_id)) =
        (&job.channel, &job.body, &job.client_msg_id)
    else {
        return Err(ApiError::new(
            ErrorCode::Internal,
            "a held job without its message",
        ));
    };
    let channel = ChannelName::new(channel)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("held channel: {e}")))?;
    // The thread of a held direct message starts when its first message is approved.
    app.dm_gate()
        .admit(job.author, &channel, Intent::Post)
        .await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.delivery
        .publisher
        .submit(Publish {
            channel,
            sender: job.author,
            body: text.clone(),
            client_msg_id: client_msg_id.clone(),
            reply: Reply::Waiting(tx),
        })
        .await;
    rx.await
        .map_err(|_| ApiError::new(ErrorCode::Unavailable, "the server is shutting down"))??;
    Ok(())
}

/// Decides job `id` as `state`.
async fn decide(
    app: App,
    headers: HeaderMap,
    id: u64,
    args: DecideArgs,
    state: JobState,
) -> Result<Json<JobView>, ApiError> {
    let actor = moderator(&app, &headers)?.address.to_string();
    let why = reason(&args.reason)?;
    let job = load(&app, id).await?;
    if job.state != JobState::Pending {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("job {id} is {} already", job.state.as_str()),
        ));
    }
    if args.remove && (state != JobState::Resolved || job.kind != JobKind::Report) {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "remove goes with resolving a report",
        ));
    }
    if state == JobState::Resolved && job.kind == JobKind::Report && args.remove {
        match (&job.channel, job.seq, job.note_id) {
            (_, _, Some(note)) => {
                super::actions::remove_note(&app, &actor, note, why).await?;
            }
            (Some(channel), Some(seq), None) => {
                let channel = ChannelName::new(channel).map_err(|e| {
                    ApiError::new(ErrorCode::Internal, format!("reported channel: {e}"))
                })?;
                super::actions::remove_message(&app, &actor, &channel, seq, why).await?;
            }
            _ => {}
        }
    }
    let action = match state {
        JobState::Resolved => "resolve",
        _ => "dismiss",
    };
    let target = format!("job:{id}");
    // Decided first, so a resolve and a dismiss racing cannot both act.
    let decided = app
        .storage
        .store
        .decide_job(
            id,
            state,
            &Audit {
                actor: &actor,
                action,
                target: &target,
                reason: why,
                detail: None,
                at_ms: now_ms(),
            },
        )
        .await
        .map_err(|e| stored(&e))?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                format!("job {id} was decided meanwhile"),
            )
        })?;
    if state == JobState::Resolved
        && job.kind == JobKind::Held
        && let Err(e) = publish_held(&app, &job).await
    {
        // Not published: the job goes back to the queue, with the reason in the log.
        let reopened = app.storage.store.reopen_job(id, now_ms()).await;
        if let Err(r) = reopened {
            tracing::error!(job = id, error = %r, "a held message was not published and its job not reopened");
        }
        return Err(e);
    }
    tracing::info!(moderator = %actor, job = id, action, "job decided");
    Ok(Json(job_view(&decided, &[])))
}

/// `POST /v1/moderation/jobs/{id}/resolve`.
pub async fn resolve(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    args: Result<Json<DecideArgs>, JsonRejection>,
) -> Result<Json<JobView>, ApiError> {
    let args = body(args)?;
    decide(app, headers, id, args, JobState::Resolved).await
}

/// `POST /v1/moderation/jobs/{id}/dismiss`.
pub async fn dismiss(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<u64>,
    args: Result<Json<DecideArgs>, JsonRejection>,
) -> Result<Json<JobView>, ApiError> {
    let args = body(args)?;
    decide(app, headers, id, args, JobState::Dismissed).await
}
