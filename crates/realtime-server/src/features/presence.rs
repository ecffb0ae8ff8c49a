//! Presence: the `presence` op (and `GET /v1/channels/{channel}/presence`) answers who is
//! present in a channel; a subscriber that asks (`subscribe` with `presence: true`, handled
//! by the chat feature) gets a snapshot in its reply and `presence_change` pushes from
//! [`run`], once a second at most. A
//! direct-message thread is a channel, so its two participants see each other come and go.
//! With a shared bus presence spans the instances (see [`crate::cluster`]).

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use realtime_core::policy::Action;
use realtime_core::{Address, ChannelName};
use realtime_protocol::reply::encode_channel_push;
use realtime_protocol::social::PresenceSnapshot;
use realtime_protocol::{ErrorBody, Op};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::features::{channel_in_path, signed_in};
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, Stateless, not_registered};
use crate::state::{App, AppState};
use crate::web::ApiError;

/// How often presence changes are announced.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);

/// The presence feature.
#[derive(Debug, Default)]
pub struct PresenceFeature;

impl Feature for PresenceFeature {
    fn name(&self) -> &'static str {
        "presence"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["presence"]
    }

    fn routes(&self) -> Router<App> {
        Router::new().route("/v1/channels/{channel}/presence", get(http_presence))
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(Stateless(handle))
    }
}

fn handle<'a>(conn: Conn<'a>, id: u64, op: Op) -> BoxFuture<'a, Result<(), ErrorBody>> {
    Box::pin(async move {
        let who = conn.signed_in()?;
        let Op::Presence { channel } = op else {
            return Err(not_registered("presence", &op));
        };
        conn.reply_ok(id, &presence(conn.app, who, channel).await?);
        Ok(())
    })
}

/// Who is present in `channel`, for `who`, who must be allowed to read it.
pub async fn presence(
    app: &AppState,
    who: Address,
    channel: ChannelName,
) -> Result<PresenceSnapshot, ErrorBody> {
    let permissions = &app.world.permissions;
    let channel = permissions.canonical(channel);
    permissions.check(Some(who), &channel, Action::Read)?;
    Ok(crate::cluster::snapshot(app, &channel).await)
}

async fn http_presence(
    State(app): State<App>,
    headers: HeaderMap,
    Path(channel): Path<String>,
) -> Result<Json<PresenceSnapshot>, ApiError> {
    let who = signed_in(&app, &headers)?;
    Ok(Json(presence(&app, who, channel_in_path(&channel)?).await?))
}

/// Announces presence changes to each channel's subscribers until the server shuts down.
pub async fn run(app: App) {
    let mut tick = tokio::time::interval(ANNOUNCE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = app.shutdown.cancelled() => return,
        }
        for (change, listeners) in app.conns.presence.flush() {
            if listeners.is_empty() {
                continue;
            }
            let push = change.to_push();
            let frame = Utf8Bytes::from(encode_channel_push(
                "presence_change",
                change.channel.as_str(),
                &push,
            ));
            let mut sent = 0;
            for queue in listeners {
                // On overflow the queue closes the connection itself (4001).
                sent += u64::from(queue.push(frame.clone()).is_ok());
            }
            crate::metrics::get().messages_out(crate::metrics::Feature::Presence, sent);
        }
    }
}
