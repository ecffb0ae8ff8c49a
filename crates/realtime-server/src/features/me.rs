//! Identity from on-chain state:
//!
//! - `me` (and `GET /v1/me`): who the session is signed in as, with the name, player status
//!   and groups on-chain state gives it now, so a client can open its guild's channel without
//!   reading the chain itself. Asked again after a `permission_revoked` or `notes_revoked`, it
//!   reflects the change.
//! - `names` (and `GET /v1/names?addresses=…`): the `[players] name` of the senders a client
//!   shows, so chat reads "alice" rather than an address. Names are public on chain, so the
//!   HTTP route needs no token.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use realtime_core::ErrorCode;
use realtime_core::{Address, ChannelName};
use realtime_protocol::request::MAX_NAMES;
use realtime_protocol::social::{GroupRef, MeOk, NamesOk};
use realtime_protocol::{ErrorBody, Op};
use schemars::JsonSchema;
use serde::Deserialize;

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
        &["me", "names"]
    }

    fn routes(&self) -> Router<App> {
        Router::new()
            .route("/v1/me", get(http_me))
            .route("/v1/names", get(http_names))
    }

    fn connect(&self, _app: &App) -> Box<dyn FeatureConn> {
        Box::new(Stateless(handle))
    }
}

fn handle<'a>(conn: Conn<'a>, id: u64, op: Op) -> BoxFuture<'a, Result<(), ErrorBody>> {
    Box::pin(async move {
        let who = conn.signed_in()?;
        match op {
            Op::Me => conn.reply_ok(id, &me(conn.app, who)),
            Op::Names { addresses } => conn.reply_ok(id, &names(conn.app, &addresses)),
            other => return Err(not_registered("me", &other)),
        }
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

/// The names of `addresses` that have one.
pub fn names(app: &AppState, addresses: &[Address]) -> NamesOk {
    let names = app.world.permissions.names_of(addresses);
    NamesOk {
        names: names.into_iter().map(|(a, n)| (a.to_string(), n)).collect(),
    }
}

/// The query of `GET /v1/names`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamesQuery {
    /// Up to 100 Starknet addresses, comma-separated.
    addresses: String,
}

async fn http_names(
    State(app): State<App>,
    query: Result<Query<NamesQuery>, QueryRejection>,
) -> Result<Json<NamesOk>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::BadRequest, e.body_text()))?;
    let list: Vec<&str> = q.addresses.split(',').filter(|s| !s.is_empty()).collect();
    if list.len() > MAX_NAMES {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("names: at most {MAX_NAMES} addresses"),
        ));
    }
    let addresses = list
        .iter()
        .map(|s| {
            s.parse::<Address>().map_err(|e| {
                ApiError::new(ErrorCode::BadRequest, format!("names: address {s:?}: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(names(&app, &addresses)))
}

async fn http_me(State(app): State<App>, headers: HeaderMap) -> Result<Json<MeOk>, ApiError> {
    let who = signed_in(&app, &headers)?;
    Ok(Json(me(&app, who)))
}
