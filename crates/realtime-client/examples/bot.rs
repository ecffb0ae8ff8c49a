//! A chat bot: follows a channel and answers `!ping` with `pong`, through drops and server
//! restarts (a `Session` reconnects and recovers by itself).
//!
//! ```sh
//! REALTIME_URL=ws://127.0.0.1:8090/v1/ws \
//! REALTIME_TOKEN=$(torii-realtime token --address 0xb07 --config realtime.toml) \
//! cargo run -p realtime-client --example bot -- world
//! ```

use realtime_client::{Backoff, Push, Session, SessionEvent, SessionOptions, fixed_token};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REALTIME_URL").unwrap_or_else(|_| "ws://127.0.0.1:8090/v1/ws".into());
    let token = std::env::var("REALTIME_TOKEN").map_err(|_| "set REALTIME_TOKEN")?;
    let channel = std::env::args().nth(1).unwrap_or_else(|| "world".into());
    // A real bot asks its backend for a fresh token here; this one reuses the one it has.
    let source = fixed_token(token);
    let mut session = Session::start(SessionOptions {
        url,
        token: source,
        backoff: Backoff::default(),
    });
    let mut me = None;
    loop {
        let Some(event) = session
            .next_event_within(std::time::Duration::from_secs(3600))
            .await
        else {
            continue;
        };
        match event {
            SessionEvent::Connected { address, reconnect } => {
                println!(
                    "signed in as {address}{}",
                    if reconnect { " again" } else { "" }
                );
                if me.is_none() {
                    session.subscribe(&channel).await?;
                    println!("following {channel}");
                }
                me = Some(address);
            }
            SessionEvent::Push(Push::Message {
                channel: ch,
                message,
                ..
            }) => {
                if message.body.trim() == "!ping" && Some(&message.sender) != me.as_ref() {
                    let handle = session.handle();
                    tokio::spawn(async move {
                        if let Err(e) = handle.publish(&ch, "pong").await {
                            eprintln!("could not answer: {e}");
                        }
                    });
                }
            }
            SessionEvent::Disconnected { code, reason } => {
                println!("disconnected ({code:?} {reason}); reconnecting");
            }
            SessionEvent::Stopped(why) => return Err(why.into()),
            SessionEvent::Gap { channel, after } => {
                println!("missed messages of {channel} after {after}; not answering those");
            }
            SessionEvent::Push(_) | SessionEvent::Refreshed { .. } => {}
        }
    }
}
