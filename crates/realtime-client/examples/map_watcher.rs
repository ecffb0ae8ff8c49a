//! A map watcher: watches a tile rectangle and prints the on-chain updates and note changes
//! inside it as they happen, through drops and restarts.
//!
//! ```sh
//! REALTIME_URL=ws://127.0.0.1:8090/v1/ws REALTIME_TOKEN=… \
//! cargo run -p realtime-client --example map_watcher -- 90 90 110 110
//! ```

use realtime_client::{Area, Backoff, Push, Session, SessionEvent, SessionOptions, fixed_token};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REALTIME_URL").unwrap_or_else(|_| "ws://127.0.0.1:8090/v1/ws".into());
    let token = std::env::var("REALTIME_TOKEN").map_err(|_| "set REALTIME_TOKEN")?;
    let n: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let [min_x, min_y, max_x, max_y] = n[..] else {
        return Err("usage: map_watcher MIN_X MIN_Y MAX_X MAX_Y".into());
    };
    let source = fixed_token(token);
    let mut session = Session::start(SessionOptions {
        url,
        token: source,
        backoff: Backoff::default(),
    });
    let area = Area {
        min_x,
        min_y,
        max_x,
        max_y,
    };
    let mut watching = false;
    while let Some(event) = session.next_event().await {
        match event {
            SessionEvent::Connected { .. } if !watching => {
                // Set once; the session sets it again on every reconnect.
                session.watch(Some(area), true).await?;
                watching = true;
                println!("watching ({min_x}, {min_y})–({max_x}, {max_y}) and my own entities");
            }
            SessionEvent::Push(Push::Entity(u)) => {
                let at = u
                    .tile
                    .map(|t| format!("({}, {})", t.x, t.y))
                    .unwrap_or_default();
                println!(
                    "{} {} {at} {}",
                    u.model,
                    u.entity,
                    serde_json::Value::Object(u.changed)
                );
            }
            SessionEvent::Push(Push::Note(n)) => {
                let title = n.note.map(|d| d.title).unwrap_or_default();
                println!("note {} {:?} at ({}, {}) {title}", n.id, n.event, n.x, n.y);
            }
            SessionEvent::Push(Push::FeedReset(_)) => println!("updates were missed: reload"),
            SessionEvent::Stopped(why) => return Err(why.into()),
            _ => {}
        }
    }
    Ok(())
}
