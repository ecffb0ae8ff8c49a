//! The Rust SDK's wallet sign-in (`realtime_client::wallet`) against a real devnet and the
//! real binary: a `KeySigner` signs in for a predeployed account, a `Session` on a
//! `wallet_token` source connects, publishes and outlives its tokens, refusals keep the
//! server's code, and the token source signs in only when its token runs short, once for
//! concurrent asks, and waits out the sign-in rate limit.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use e2e::devnet::{Account, Devnet};
use e2e::{Options, Server, message_push, next_push};
use realtime_client::wallet::Signer;
use realtime_client::{
    Backoff, ErrorCode, KeySigner, Push, Session, SessionEvent, SessionOptions, TokenSource,
    WalletTokenOptions, sign_in, wallet_token, wallet_token_with,
};
use realtime_core::time::{now_ms, parse_rfc3339_ms};

/// A server with wallet sign-in against `devnet`; `starknet` adds `[auth.starknet]` keys,
/// `env` environment overrides.
async fn server(devnet: &Devnet, starknet: &str, env: &[(&str, &str)]) -> Server {
    Server::start_with(Options {
        toml: format!(
            "[auth.starknet]\nrpc_url = \"{}\"\ndomain_name = \"example-world\"\nchain_id = \"SN_SEPOLIA\"\n{starknet}",
            devnet.url()
        ),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..Options::default()
    })
    .await
}

fn base(server: &Server) -> String {
    format!("http://{}", server.addr)
}

fn signer(account: &Account) -> KeySigner {
    KeySigner::from_hex(&account.address, &account.private_key).unwrap()
}

fn canonical(address: &str) -> String {
    address
        .parse::<realtime_core::Address>()
        .unwrap()
        .to_string()
}

/// Wallet sign-ins the server has completed, from its log.
fn sign_ins(server: &Server) -> usize {
    server
        .logs()
        .iter()
        .filter(|l| l["message"] == "signed in with a wallet")
        .count()
}

/// Asserts that the server completed exactly `n` wallet sign-ins, giving its log lines a
/// moment to be read.
async fn assert_sign_ins(server: &Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while sign_ins(server) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sign_ins(server), n, "wallet sign-ins");
}

async fn token(source: &TokenSource) -> String {
    source().await.unwrap()
}

async fn next(session: &mut Session) -> SessionEvent {
    session
        .next_event_within(Duration::from_secs(10))
        .await
        .expect("a session event within 10 s")
}

#[tokio::test]
async fn a_key_signer_signs_in_and_a_session_on_its_tokens_publishes() {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let server = server(&devnet, "", &[]).await;
    let me = signer(&accounts[0]);
    let address = canonical(&accounts[0].address);

    let signed_in = sign_in(&base(&server), &me).await.unwrap();
    assert_eq!(signed_in.address, address);
    assert!(parse_rfc3339_ms(&signed_in.expires_at).unwrap() > now_ms());
    assert_sign_ins(&server, 1).await;

    let mut watcher = server.client(&e2e::addr(7)).await;
    watcher.subscribe("world", None).await.unwrap();
    let mut session = Session::start(SessionOptions {
        url: server.ws_url(),
        token: wallet_token(&base(&server), me),
        backoff: Backoff::default(),
    });
    assert_eq!(
        next(&mut session).await,
        SessionEvent::Connected {
            address: address.clone(),
            reconnect: false
        }
    );
    session.subscribe("world").await.unwrap();
    let ok = session.publish("world", "signed with a key").await.unwrap();
    assert!(ok.seq >= 1);
    let (channel, seq, message) = message_push(next_push(&mut watcher).await);
    assert_eq!(
        (channel.as_str(), seq, message.sender.as_str()),
        ("world", ok.seq, address.as_str())
    );
    assert_eq!(message.body, "signed with a key");
}

#[tokio::test]
async fn refusals_keep_the_servers_code_and_stop_a_session() {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let server = server(&devnet, "", &[]).await;
    // The first account's address with the second account's key.
    let wrong = KeySigner::from_hex(&accounts[0].address, &accounts[1].private_key).unwrap();
    let e = sign_in(&base(&server), &wrong).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InvalidSignature), "{e}");
    assert!(!e.is_transient());
    assert!(e.to_string().contains("invalid_signature"), "{e}");

    let ghost = KeySigner::from_hex("0x0123456789abcdef", &accounts[0].private_key).unwrap();
    let e = sign_in(&base(&server), &ghost).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::AccountNotDeployed), "{e}");

    // A session cannot fix a refused signature by retrying: it stops, saying why.
    let mut session = Session::start(SessionOptions {
        url: server.ws_url(),
        token: wallet_token(&base(&server), wrong),
        backoff: Backoff::default(),
    });
    match next(&mut session).await {
        SessionEvent::Stopped(why) => assert!(why.contains("invalid_signature"), "{why}"),
        other => panic!("expected the session to stop, got {other:?}"),
    }
    assert_sign_ins(&server, 0).await;
}

#[tokio::test]
async fn the_token_source_keeps_its_token_and_shares_one_sign_in() {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let server = server(&devnet, "", &[]).await;
    let source = wallet_token(&base(&server), signer(&accounts[0]));
    // Three asks at once: one sign-in, one token.
    let (a, b, c) = tokio::join!(token(&source), token(&source), token(&source));
    assert_eq!((&a, &b), (&c, &c));
    // Asked again later: the same token, still no other sign-in.
    assert_eq!(token(&source).await, a);
    assert_sign_ins(&server, 1).await;
}

#[tokio::test]
async fn the_token_source_signs_in_again_when_its_token_runs_short() {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let server = server(&devnet, "", &[("TORII_REALTIME__AUTH__SESSION_TTL", "6s")]).await;
    let source = wallet_token_with(
        &base(&server),
        signer(&accounts[0]),
        WalletTokenOptions {
            margin: Duration::from_secs(3),
            ..WalletTokenOptions::default()
        },
    );
    let started = Instant::now();
    let first = token(&source).await;
    assert_eq!(
        token(&source).await,
        first,
        "6 s left is more than the margin"
    );
    assert_sign_ins(&server, 1).await;
    tokio::time::sleep(Duration::from_millis(4000).saturating_sub(started.elapsed())).await;
    let second = token(&source).await;
    assert_ne!(second, first, "less than the margin left: a new sign-in");
    assert_eq!(token(&source).await, second);
    assert_sign_ins(&server, 2).await;

    // With the default margin (a minute), a 6 s token is never kept.
    let fresh = wallet_token(&base(&server), signer(&accounts[0]));
    let one = token(&fresh).await;
    assert_ne!(token(&fresh).await, one);
    assert_sign_ins(&server, 4).await;
}

/// Short tokens on one connection: the session refreshes in band with a fresh sign-in
/// before each expiry, and the connection stays up past the first token's lifetime.
#[tokio::test]
async fn a_session_on_wallet_tokens_outlives_them_without_reconnecting() {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let server = server(&devnet, "", &[("TORII_REALTIME__AUTH__SESSION_TTL", "4s")]).await;
    let mut session = Session::start(SessionOptions {
        url: server.ws_url(),
        token: wallet_token(&base(&server), signer(&accounts[0])),
        backoff: Backoff::default(),
    });
    assert!(matches!(
        next(&mut session).await,
        SessionEvent::Connected {
            reconnect: false,
            ..
        }
    ));
    session.subscribe("world").await.unwrap();
    let started = Instant::now();
    let mut refreshed = 0;
    while started.elapsed() < Duration::from_secs(6) {
        match session.next_event_within(Duration::from_millis(200)).await {
            Some(SessionEvent::Refreshed { .. }) => refreshed += 1,
            Some(SessionEvent::Push(Push::Message { .. })) | None => {}
            Some(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(refreshed >= 1, "refreshed in band");
    assert!(sign_ins(&server) >= 2, "the refresh signed in again");
    session.publish("world", "still here").await.unwrap();
}

/// The sign-in rate limit counts challenges and verifies: a plain `sign_in` gets
/// `rate_limited` at once, and the token source waits the `retry_after` and goes on, without a
/// second signature for a verify it sends again.
#[tokio::test]
async fn the_token_source_waits_out_the_sign_in_rate_limit() {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let server = server(&devnet, "per_ip_burst = 2\nper_ip_per_second = 1.0\n", &[]).await;
    let me = CountingSigner(signer(&accounts[0]), Default::default());
    sign_in(&base(&server), &me).await.unwrap();
    let e = sign_in(&base(&server), &me).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::RateLimited), "{e}");
    assert!(e.is_transient() && e.retry_after().is_some(), "{e}");

    let signatures = me.1.clone();
    let before = signatures.load(std::sync::atomic::Ordering::Relaxed);
    let source = wallet_token(&base(&server), me);
    source().await.unwrap();
    assert_sign_ins(&server, 2).await;
    assert_eq!(
        signatures.load(std::sync::atomic::Ordering::Relaxed),
        before + 1,
        "one signature for the retried sign-in"
    );
}

/// A signer that counts its signatures.
struct CountingSigner(KeySigner, std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Signer for CountingSigner {
    fn address(&self) -> realtime_core::Address {
        self.0.address()
    }

    async fn sign_typed_data(
        &self,
        typed_data: &serde_json::Value,
    ) -> Result<Vec<realtime_client::wallet::Felt>, realtime_client::wallet::SignerError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.sign_typed_data(typed_data).await
    }
}
