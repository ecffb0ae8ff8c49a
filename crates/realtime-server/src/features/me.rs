//! `me` (and `GET /v1/me`): who the session is signed in as, with the name, player status
//! and groups on-chain state gives it now, so a client can open its guild's channel without
//! reading the chain itself. Asked again after a `permission_revoked` or `notes_revoked`, it
//! reflects the change.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use realtime_core::{Address, ChannelName};
use realtime_protocol::social::{GroupRef, MeOk};
use realtime_protocol::{ErrorBody, Op};

use crate::features::signed_in;
use crate::session::{BoxFuture, Conn, Feature, FeatureConn, Stateless, not_registered};
use crate::state::{App, AppState};
use crate::web::ApiError;

/// The identity feature.
#[derive(Debug, Default)]
pub struct Me;

impl Feature for Me {
    fn name(&self) -> &'static str {
        "me"
    }

    fn ops(&self) -> &'static [&'static str] {
        &["me"]
    }

    fn routes(&self) -> Router<App> {
        Router::new().route("/v1/me", get(http_me))
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(Stateless(handle))
    }
}

fn handle<'a>(conn: Conn<'a>, id: u64, op: Op) -> BoxFuture<'a, Result<(), ErrorBody>> {
    Box::pin(async move {
        let who = conn.signed_in()?;
        let Op::Me = op else {
            return Err(not_registered("me", &op));
        };
        conn.reply_ok(id, &me(conn.app, who));
        Ok(())
    })
}

/// `who` as on-chain state sees it.
pub fn me(app: &AppState, who: Address) -> MeOk {
    let permissions = &app.world.permissions;
    let (name, player, groups) = permissions.standing_of(who);
    let mut groups: Vec<GroupRef> = groups
        .into_iter()
        .filter_map(|(kind, id)| {
            // The canonical spelling, as `subscribe` would answer with it.
            let channel = ChannelName::new(&format!("{kind}:{id}")).ok()?;
            let channel = permissions.canonical(channel).to_string();
            Some(GroupRef { kind, id, channel })
        })
        .collect();
    groups.sort_by(|a, b| a.channel.cmp(&b.channel));
    MeOk {
        address: who.to_string(),
        name,
        player,
        groups,
    }
}

async fn http_me(State(app): State<App>, headers: HeaderMap) -> Result<Json<MeOk>, ApiError> {
    let who = signed_in(&app, &headers)?;
    Ok(Json(me(&app, who)))
}
