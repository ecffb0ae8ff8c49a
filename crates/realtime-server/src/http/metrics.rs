//! `GET /metrics`: the Prometheus text exposition of [`crate::metrics`]. Gauges that mirror
//! state kept elsewhere (the bus, the Torii follower, sessions, the review queue) are set here,
//! from that state, when scraped.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use realtime_bus::BusState;

use crate::metrics::{self, catch_up};
use crate::state::App;

/// The content type of the text format, version 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for the review queue's count; past it the last count stays.
const QUEUE_COUNT_WAIT: Duration = Duration::from_secs(1);

pub async fn serve(State(app): State<App>) -> impl IntoResponse {
    refresh(&app).await;
    (
        [(header::CONTENT_TYPE, TEXT_FORMAT)],
        metrics::get().encode(),
    )
}

async fn refresh(app: &App) {
    let m = metrics::get();
    m.signed_in.set(app.conns.registry.len() as i64);
    m.channels.set(app.delivery.hub.channel_count() as i64);
    m.leader.set(i64::from(app.delivery.leader.is_leader()));

    let bus = app.delivery.broker.status();
    m.bus_connected.set(i64::from(!matches!(
        bus.state,
        BusState::Disconnected | BusState::Connecting
    )));
    catch_up(&m.bus_reconnects, bus.reconnects);
    catch_up(&m.bus_sent, bus.sent);
    catch_up(&m.bus_received, bus.received);
    catch_up(&m.bus_dropped, bus.dropped);
    catch_up(&m.rate_limit_fallbacks, app.delivery.rate_limits.status().1);

    if let Some(world) = &app.world.permissions.world {
        let s = world.status.borrow().clone();
        m.torii_live
            .set(i64::from(s.state == torii_plugin::sync::SyncState::Live));
        m.torii_synced.set(i64::from(s.synced));
        catch_up(&m.torii_reconnects, s.reconnects);
        catch_up(&m.torii_updates, s.updates);
        m.torii_lag.set(
            s.lag_secs
                .map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX)),
        );
        m.torii_stale.set(
            s.stale_for()
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        );
        m.torii_entities.set(s.entities as i64);
    }

    let count = tokio::time::timeout(QUEUE_COUNT_WAIT, app.storage.store.pending_jobs()).await;
    if let Ok(Ok(pending)) = count {
        m.pending_jobs
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }
}
