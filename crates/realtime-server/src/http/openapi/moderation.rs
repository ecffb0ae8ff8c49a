//! The moderation routes of the table: players' reports and the moderators' API. Kept apart
//! from [`super::routes`] only for size; [`super::routes::all`] lists both.

use realtime_core::ErrorCode as E;
use realtime_protocol::moderation::{
    AuditPage, DecideArgs, DoneOk, JobView, JobsPage, LiftArgs, LiftOk, RemoveMessageArgs,
    RemoveNoteArgs, ReportArgs, ReportOk, RevokeArgs, SanctionArgs, SanctionList, SanctionView,
};

use super::{Route, inline, named};
use crate::features::moderation::{AuditQuery, ListQuery};

/// Errors every moderators' route can answer besides a token's.
const MODERATOR: &[E] = &[E::BadRequest, E::Forbidden, E::Unavailable, E::Internal];
/// ...and those that act on something that may be gone.
const ACTION: &[E] = &[
    E::BadRequest,
    E::InvalidChannel,
    E::Forbidden,
    E::NotFound,
    E::Unavailable,
    E::Internal,
];

pub const ROUTES: &[Route] = &[
    Route::post("/v1/reports", "report")
        .summary("Report a message or a note to the moderators")
        .about(
            "As the `report` op: a message the address may read (direct messages included) \
             or a note it may see, once per address; limited by `[moderation] \
             reports_burst` and `reports_per_hour`.",
        )
        .tag("moderation")
        .token()
        .body(named::<ReportArgs>)
        .json(named::<ReportOk>)
        .errors(&[
            E::BadRequest,
            E::InvalidChannel,
            E::Forbidden,
            E::NotFound,
            E::RateLimited,
            E::Unavailable,
            E::Internal,
        ]),
    Route::get("/v1/moderation/jobs", "moderation_jobs")
        .summary("A page of the review queue, oldest first")
        .about("`state` is pending (the default), resolved, dismissed or all.")
        .tag("moderation")
        .token()
        .query(inline::<ListQuery>)
        .json(named::<JobsPage>)
        .errors(MODERATOR),
    Route::get("/v1/moderation/jobs/{id}", "moderation_job")
        .summary("A job of the review queue, with its reports")
        .tag("moderation")
        .token()
        .json(named::<JobView>)
        .errors(ACTION),
    Route::post("/v1/moderation/jobs/{id}/resolve", "moderation_resolve")
        .summary("Resolve a job: publish a held message, or uphold a report")
        .about("`remove: true` with a report also removes what was reported.")
        .tag("moderation")
        .token()
        .body(named::<DecideArgs>)
        .json(named::<JobView>)
        .errors(&[
            E::BadRequest,
            E::Forbidden,
            E::NotFound,
            E::Conflict,
            E::Unavailable,
            E::Internal,
        ]),
    Route::post("/v1/moderation/jobs/{id}/dismiss", "moderation_dismiss")
        .summary("Dismiss a job: drop a held message, or reject a report")
        .tag("moderation")
        .token()
        .body(named::<DecideArgs>)
        .json(named::<JobView>)
        .errors(&[
            E::BadRequest,
            E::Forbidden,
            E::NotFound,
            E::Conflict,
            E::Unavailable,
            E::Internal,
        ]),
    Route::post("/v1/moderation/bans", "moderation_ban")
        .summary("Ban an address, for a duration or until lifted")
        .about("Its sockets close with 4403 on every instance; sign-in is refused.")
        .tag("moderation")
        .token()
        .body(named::<SanctionArgs>)
        .json(named::<SanctionView>)
        .errors(ACTION),
    Route::post("/v1/moderation/unbans", "moderation_unban")
        .summary("Lift the bans of an address")
        .tag("moderation")
        .token()
        .body(named::<LiftArgs>)
        .json(named::<LiftOk>)
        .errors(ACTION),
    Route::post("/v1/moderation/mutes", "moderation_mute")
        .summary("Mute an address in one channel or everywhere")
        .tag("moderation")
        .token()
        .body(named::<SanctionArgs>)
        .json(named::<SanctionView>)
        .errors(ACTION),
    Route::post("/v1/moderation/unmutes", "moderation_unmute")
        .summary("Lift the mutes of an address (of one channel, or all)")
        .tag("moderation")
        .token()
        .body(named::<LiftArgs>)
        .json(named::<LiftOk>)
        .errors(ACTION),
    Route::post("/v1/moderation/revocations", "moderation_revoke")
        .summary("Revoke one session by its token's jti")
        .about("Its sockets close with 4401; the token is refused until it would have expired.")
        .tag("moderation")
        .token()
        .body(named::<RevokeArgs>)
        .json(named::<DoneOk>)
        .errors(MODERATOR),
    Route::post(
        "/v1/moderation/messages/remove",
        "moderation_remove_message",
    )
    .summary("Remove a message: subscribers get `message_removed`, history shows it deleted")
    .tag("moderation")
    .token()
    .body(named::<RemoveMessageArgs>)
    .json(named::<DoneOk>)
    .errors(ACTION),
    Route::post("/v1/moderation/notes/remove", "moderation_remove_note")
        .summary("Remove a note: its watchers get a `removed` note event")
        .tag("moderation")
        .token()
        .body(named::<RemoveNoteArgs>)
        .json(named::<DoneOk>)
        .errors(ACTION),
    Route::get("/v1/moderation/sanctions", "moderation_sanctions")
        .summary("Bans and mutes in force")
        .tag("moderation")
        .token()
        .json(named::<SanctionList>)
        .errors(MODERATOR),
    Route::get("/v1/moderation/audit", "moderation_audit")
        .summary("A page of the audit log, newest first")
        .tag("moderation")
        .token()
        .query(inline::<AuditQuery>)
        .json(named::<AuditPage>)
        .errors(MODERATOR),
];
