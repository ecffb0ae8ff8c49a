//! The load's clients: publishers that retry until acknowledged and subscribers that
//! resume with `since`, each moving to the next instance when its own does not answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use realtime_client::{Auth, Client, ClientError, ErrorCode, Event, Push};
use tokio::sync::watch;

use super::{Ack, Endpoint, Failure, Publisher, Resume, Shared, SubLog, Subscriber};

/// A signed-in connection to `urls[*at]`, or to the next instance that answers (updating
/// `at`); `None` once `stop` is set.
async fn connect(
    endpoint: &Endpoint,
    at: &mut usize,
    stop: &mut watch::Receiver<bool>,
) -> Option<Client> {
    let count = endpoint.urls.len();
    let mut round = 0u32;
    loop {
        for _ in 0..count {
            if *stop.borrow() {
                return None;
            }
            let url = &endpoint.urls[*at];
            if let Ok(mut c) = Client::connect(url, Auth::Header(endpoint.token.clone())).await
                && let Some(Event::Push(Push::Connected(_))) =
                    c.next_event_within(Duration::from_secs(10)).await
            {
                return Some(c);
            }
            *at = (*at + 1) % count;
        }
        round += 1;
        // Every instance refused: wait a little (longer each round, at most a second).
        let wait = Duration::from_millis(50 * u64::from(round.min(20)));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The failure kind of a client error, and whether a new connection is needed.
fn classify(e: &ClientError) -> (String, bool) {
    match e {
        ClientError::Server(body) => (body.code.as_str().to_owned(), false),
        ClientError::Timeout(_) => ("timeout".into(), false),
        ClientError::Closed => ("closed".into(), true),
        ClientError::WebSocket(_) => ("websocket".into(), true),
        ClientError::Invalid(_) => ("invalid".into(), false),
        ClientError::Reply(_) => ("reply".into(), false),
    }
}

/// Whether the protocol tells a client to retry after this error (with the same
/// `client_msg_id`). `internal` is a server bug; it is retried so that the load goes on, and
/// recorded, so that a test can refuse it.
fn retryable(e: &ClientError) -> bool {
    match e {
        ClientError::Server(body) => matches!(
            body.code,
            ErrorCode::Unavailable | ErrorCode::RateLimited | ErrorCode::Internal
        ),
        ClientError::Timeout(_) | ClientError::Closed | ClientError::WebSocket(_) => true,
        ClientError::Invalid(_) | ClientError::Reply(_) => false,
    }
}

/// The wait before retry `attempt` after a server error: `retry_after_ms`, or 50 ms doubling
/// up to 800 ms.
fn retry_wait(e: &ClientError, attempt: u32) -> Duration {
    if let ClientError::Server(body) = e
        && let Some(ms) = body.retry_after_ms
    {
        return Duration::from_millis(ms);
    }
    Duration::from_millis(50 << attempt.min(4))
}

pub(super) async fn publish_loop(
    endpoint: Endpoint,
    n: usize,
    plan: Publisher,
    pause: Duration,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut at = plan.instance;
    let mut conn: Option<Client> = None;
    // A stop that arrives mid-message still lets that message be acknowledged.
    let (_never, mut no_stop) = watch::channel(false);
    for i in 0u64.. {
        if *stop.borrow() {
            return;
        }
        let id = format!("p{n}-{i}");
        let mut attempt = 0u32;
        loop {
            let client = match &conn {
                Some(c) => c,
                None => {
                    conn = connect(&endpoint, &mut at, &mut no_stop).await;
                    continue;
                }
            };
            match client.publish(&plan.channel, &id, &id).await {
                Ok(ok) => {
                    shared.acks.lock().unwrap().push(Ack {
                        publisher: n,
                        channel: ok.channel,
                        seq: ok.seq,
                        client_msg_id: id.clone(),
                        instance: at,
                        duplicate: ok.duplicate,
                        at: Instant::now(),
                    });
                    break;
                }
                Err(e) => {
                    let (kind, reconnect) = classify(&e);
                    let fatal = !retryable(&e);
                    shared.fail(Failure {
                        who: endpoint.who.clone(),
                        kind,
                        message: e.to_string(),
                        instance: at,
                        fatal,
                        at: Instant::now(),
                    });
                    if fatal {
                        break;
                    }
                    if reconnect {
                        conn = None;
                    } else if matches!(e, ClientError::Server(_)) {
                        tokio::time::sleep(retry_wait(&e, attempt)).await;
                    }
                    attempt += 1;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
}

pub(super) async fn subscribe_loop(
    endpoint: Endpoint,
    plan: Subscriber,
    log: Arc<Mutex<SubLog>>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut at = plan.instance;
    loop {
        let Some(mut client) = connect(&endpoint, &mut at, &mut stop).await else {
            return;
        };
        log.lock().unwrap().instance = at;
        if !follow(&endpoint, &plan, &client, at, &log, &shared).await {
            log.lock().unwrap().drops += 1;
            continue;
        }
        loop {
            let event = tokio::select! {
                e = client.next_event() => e,
                _ = stop.changed() => return,
            };
            match event {
                Some(Event::Push(Push::Message {
                    channel,
                    seq,
                    message,
                })) => {
                    let id = message.client_msg_id.unwrap_or_default();
                    log.lock()
                        .unwrap()
                        .received
                        .entry(channel)
                        .or_default()
                        .push((seq, id));
                }
                Some(Event::Push(p)) => {
                    *log.lock()
                        .unwrap()
                        .other_pushes
                        .entry(p.name().to_owned())
                        .or_default() += 1;
                }
                Some(Event::Error(_) | Event::Invalid(_)) => {}
                Some(Event::Closed(_)) | None => {
                    log.lock().unwrap().drops += 1;
                    break;
                }
            }
        }
    }
}

/// Subscribes `client` to every channel of the plan: the first time from the head, after
/// a reconnect with `since` = the last seq received. Returns false when the connection
/// dropped meanwhile.
async fn follow(
    endpoint: &Endpoint,
    plan: &Subscriber,
    client: &Client,
    at: usize,
    log: &Mutex<SubLog>,
    shared: &Shared,
) -> bool {
    for channel in &plan.channels {
        let since = log.lock().unwrap().last(channel);
        let mut attempt = 0;
        loop {
            match client.subscribe(channel, since).await {
                Ok(ok) => {
                    let mut log = log.lock().unwrap();
                    match since {
                        None => {
                            log.start.insert(channel.clone(), ok.last_seq);
                        }
                        Some(since) => log.resumes.push(Resume {
                            channel: channel.clone(),
                            since,
                            recovered: ok.recovered,
                            replayed: ok.replayed,
                            instance: at,
                            at: Instant::now(),
                        }),
                    }
                    break;
                }
                Err(e) => {
                    let (kind, reconnect) = classify(&e);
                    shared.fail(Failure {
                        who: endpoint.who.clone(),
                        kind,
                        message: e.to_string(),
                        instance: at,
                        fatal: false,
                        at: Instant::now(),
                    });
                    // After a timeout the subscribe may still take effect: start over on a
                    // new connection rather than meet `already_subscribed`.
                    if reconnect || matches!(e, ClientError::Timeout(_)) {
                        return false;
                    }
                    tokio::time::sleep(retry_wait(&e, attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
    true
}
