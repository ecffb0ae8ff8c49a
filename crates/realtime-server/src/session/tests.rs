use std::time::Duration;

use realtime_core::hex::Rect;

use super::*;
use crate::config::Config;
use crate::state::test_app;

/// A signed-in session as `run` builds it, subscribed to `world` and watching an area.
async fn joined_session(app: &App, id: ConnId) -> Session {
    let queue = SendQueue::new(1 << 20);
    let (command_tx, commands) = mpsc::channel(COMMAND_QUEUE);
    let mut session = Session {
        app: app.clone(),
        id,
        queue: queue.clone(),
        identity: None,
        _address_slot: None,
        pending: None,
        subscriptions: HashSet::new(),
        commands,
        command_tx,
        replay: None,
        deferred: Default::default(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_PUBLISHES_IN_FLIGHT)),
    };
    let token = app
        .tokens
        .mint("0xa11ce".parse().unwrap(), Duration::from_secs(60), true)
        .unwrap();
    session.authenticate(&token, None).unwrap();
    let world = ChannelName::new("world").unwrap();
    app.hub.join(&world, id, queue.clone()).await.unwrap();
    app.hub.activate(&world, id);
    session.subscriptions.insert(world);
    app.feed
        .watch(id, queue, Some(Rect::new(0, 0, 9, 9).unwrap()), None);
    session
}

#[tokio::test]
async fn a_session_that_panics_leaves_the_hub_registry_and_feed() {
    let (app, dir) = test_app(Config::default()).await;
    let session = joined_session(&app, 1).await;
    assert_eq!(
        (
            app.hub.channel_count(),
            app.registry.len(),
            app.feed.watchers()
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
            app.hub.channel_count(),
            app.registry.len(),
            app.feed.watchers()
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
            app.hub.channel_count(),
            app.registry.len(),
            app.feed.watchers()
        ),
        (0, 0, 0)
    );
    std::fs::remove_dir_all(dir).ok();
}
