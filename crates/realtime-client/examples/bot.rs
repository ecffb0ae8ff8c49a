//! A chat bot: follows a channel and answers `!ping` with `pong`, through drops and server
//! restarts (a `Session` reconnects and recovers by itself).
//!
//! With a token (a development token here; it is used as long as it lasts):
//!
//! ```sh
//! REALTIME_URL=ws://127.0.0.1:8090/v1/ws \
//! REALTIME_TOKEN=$(torii-realtime token --address 0xb07 --config realtime.toml) \
//! cargo run -p realtime-client --example bot -- world
//! ```
//!
//! Or signed in with the account's Stark key (the server needs `[auth.starknet]`); it signs
//! in again by itself before each token runs out:
//!
//! ```sh
//! REALTIME_URL=ws://127.0.0.1:8090/v1/ws \
//! REALTIME_ADDRESS=0x64b4… REALTIME_PRIVATE_KEY=0x71d7… \
//! cargo run -p realtime-client --features wallet --example bot -- world
//! ```
//!
//! `REALTIME_HTTP_URL` is the server's HTTP origin for sign-in; by default it is
//! `REALTIME_URL`'s (`ws://host:port/v1/ws` → `http://host:port`).

use realtime_client::{
    Backoff, Push, Session, SessionEvent, SessionOptions, TokenSource, fixed_token,
};

/// The token source the environment asks for: a key to sign in with, or a token.
fn token_source(url: &str) -> Result<TokenSource, Box<dyn std::error::Error>> {
    if let Ok(key) = std::env::var("REALTIME_PRIVATE_KEY") {
        let address = std::env::var("REALTIME_ADDRESS").map_err(|_| "set REALTIME_ADDRESS")?;
        let http = std::env::var("REALTIME_HTTP_URL").unwrap_or_else(|_| http_origin(url));
        return wallet(&http, &address, &key);
    }
    let token = std::env::var("REALTIME_TOKEN")
        .map_err(|_| "set REALTIME_TOKEN, or REALTIME_ADDRESS and REALTIME_PRIVATE_KEY")?;
    // A real bot asks its backend for a fresh token here; this one reuses the one it has.
    Ok(fixed_token(token))
}

#[cfg(feature = "wallet")]
fn wallet(http: &str, address: &str, key: &str) -> Result<TokenSource, Box<dyn std::error::Error>> {
    let signer = realtime_client::KeySigner::from_hex(address, key)?;
    Ok(realtime_client::wallet_token(http, signer))
}

#[cfg(not(feature = "wallet"))]
fn wallet(_: &str, _: &str, _: &str) -> Result<TokenSource, Box<dyn std::error::Error>> {
    Err("signing in with a key needs the wallet feature: cargo run --features wallet …".into())
}

/// `ws://host:port/v1/ws` → `http://host:port` (and `wss` → `https`).
fn http_origin(ws_url: &str) -> String {
    let url = ws_url
        .replacen("wss://", "https://", 1)
        .replacen("ws://", "http://", 1);
    match url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
    {
        Some(path) => url[..path].to_owned(),
        None => url,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REALTIME_URL").unwrap_or_else(|_| "ws://127.0.0.1:8090/v1/ws".into());
    let source = token_source(&url)?;
    let channel = std::env::args().nth(1).unwrap_or_else(|| "world".into());
    let mut session = Session::start(SessionOptions {
        url,
        token: source,
        backoff: Backoff::default(),
    });
    let mut me = None;
    while let Some(event) = session.next_event().await {
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
    Ok(())
}
