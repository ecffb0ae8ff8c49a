use std::time::Duration;

use realtime_core::hex::Rect;

use super::*;
use crate::config::Config;
use crate::state::test_app;

/// A signed-in session as `run` builds it, subscribed to `world` and watching an area.
async fn joined_session(app: &App, id: ConnId) -> Session {
    let queue = SendQueue::new(1 << 20);
    let (command_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let registry = Arc::new(crate::features::all());
    let mut session = Session {
        app: app.clone(),
        id,
        queue: queue.clone(),
        identity: None,
        _address_slot: None,
        pending: None,
        features: registry.connect(app),
        registry,
        commands,
        command_tx,
        replay: None,
        deferred: Default::default(),
        inbound: realtime_core::TokenBucket::new(10, 1.0, std::time::Instant::now()),
        paused: None,
        reserved: false,
        op: "",
    };
    let token = app
        .identity
        .tokens
        .mint("0xa11ce".parse().unwrap(), Duration::from_secs(60), true)
        .unwrap();
    session.authenticate(&token, None).await.unwrap();
    session
        .on_text(r#"{"id":1,"op":"subscribe","channel":"world"}"#)
        .await;
    app.world
        .feed
        .watch(id, queue, None, Some(Rect::new(0, 0, 9, 9).unwrap()), None);
    session
}

#[tokio::test]
async fn a_session_that_panics_leaves_the_hub_registry_and_feed() {
    let (app, dir) = test_app(Config::default()).await;
    let session = joined_session(&app, 1).await;
    assert_eq!(
        (
            app.delivery.hub.channel_count(),
            app.conns.registry.len(),
            app.world.feed.watchers()
        ),
        (1, 1, 1)
    );
    let task = tokio::spawn(async move {
        let _owned = session;
        panic!("a bug while handling a request");
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(
        (
            app.delivery.hub.channel_count(),
            app.conns.registry.len(),
            app.world.feed.watchers()
        ),
        (0, 0, 0),
        "nothing routes to a session that is gone"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_session_whose_task_is_dropped_leaves_too() {
    let (app, dir) = test_app(Config::default()).await;
    let session = joined_session(&app, 2).await;
    let task = tokio::spawn(async move {
        let _owned = session;
        std::future::pending::<()>().await;
    });
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(
        (
            app.delivery.hub.channel_count(),
            app.conns.registry.len(),
            app.world.feed.watchers()
        ),
        (0, 0, 0)
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_op_no_feature_registered_is_refused_and_the_connection_stays() {
    let (app, dir) = test_app(Config::default()).await;
    let mut session = joined_session(&app, 3).await;
    // A server without the map feed: `watch` has no feature to go to.
    let registry = Arc::new(Features::new(vec![Arc::new(crate::features::chat::Chat)]));
    session.features = registry.connect(&app);
    session.registry = registry;
    let queue = session.queue.clone();
    session
        .on_text(r#"{"id":9,"op":"watch","mine":true}"#)
        .await;
    session.on_text(r#"{"id":10,"op":"ping"}"#).await;
    let mut frames = Vec::new();
    while let Ok(frame) = queue.next_one().await {
        frames.push(frame.to_string());
        if frames.last().is_some_and(|f| f.contains(r#""id":10"#)) {
            break;
        }
    }
    assert!(
        frames
            .iter()
            .any(|f| f.contains(r#""id":9"#) && f.contains("unknown_op")),
        "{frames:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}
