//! Wallet sign-in against a real devnet: real account contracts answer
//! `is_valid_signature` for real signatures.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use e2e::devnet::{Account, Devnet};
use e2e::{Options, Server, connected_push, http, next_push};
use realtime_client::{Auth, Client};
use serde_json::{Value, json};
use starknet_core::types::Felt;

async fn server(devnet_url: &str, extra: &str) -> Server {
    Server::start_with(Options {
        toml: format!(
            "[auth.starknet]\nrpc_url = \"{devnet_url}\"\ndomain_name = \"example-world\"\nchain_id = \"SN_SEPOLIA\"\n{extra}"
        ),
        ..Options::default()
    })
    .await
}

async fn challenge(server: &Server, address: &str) -> Value {
    let r = http::post_json(
        server.addr,
        "/v1/auth/challenge",
        &json!({"address": address}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn sign(typed_data: &Value, signer: &Account) -> Vec<String> {
    let address = signer.address.parse().unwrap();
    let hash = realtime_auth::challenge::message_hash(typed_data, address).unwrap();
    let hash = Felt::from_bytes_be(&hash);
    let key = Felt::from_hex(&signer.private_key).unwrap();
    let k = starknet_crypto::rfc6979_generate_k(&hash, &key, None);
    let sig = starknet_crypto::sign(&key, &hash, &k).unwrap();
    // Decimal strings, as starknet.js's `stark.formatSignature` gives them.
    vec![sig.r.to_string(), sig.s.to_string()]
}

async fn verify(
    server: &Server,
    address: &str,
    nonce: &Value,
    signature: Vec<String>,
) -> http::Response {
    http::post_json(
        server.addr,
        "/v1/auth/verify",
        &json!({"address": address, "nonce": nonce, "signature": signature}),
    )
    .await
}

fn code(r: &http::Response) -> String {
    r.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_wallet_signs_in_and_opens_a_socket() {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let server = server(&devnet.url(), "").await;
    let me = &accounts[0];
    let c = challenge(&server, &me.address).await;
    assert_eq!(c["typed_data"]["primaryType"], "SignIn");
    assert_eq!(c["typed_data"]["domain"]["chainId"], "SN_SEPOLIA");
    let r = verify(
        &server,
        &me.address,
        &c["nonce"],
        sign(&c["typed_data"], me),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let mut client = Client::connect(&server.ws_url(), Auth::Subprotocol(token))
        .await
        .unwrap();
    let p = connected_push(next_push(&mut client).await);
    let canonical: realtime_core::Address = me.address.parse().unwrap();
    assert_eq!(p.address, canonical.to_string());
    client.subscribe("world", None).await.unwrap();
}

struct Setup {
    _devnet: Devnet,
    me: Account,
    other: Account,
    server: Server,
}

async fn setup() -> Setup {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let server = server(&devnet.url(), "").await;
    Setup {
        me: accounts[0].clone(),
        other: accounts[1].clone(),
        server,
        _devnet: devnet,
    }
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    let s = setup().await;
    let c = challenge(&s.server, &s.me.address).await;
    let r = verify(
        &s.server,
        &s.me.address,
        &c["nonce"],
        vec!["0x1".into(), "0x2".into()],
    )
    .await;
    assert_eq!((r.status, code(&r)), (401, "invalid_signature".into()));
}

#[tokio::test]
async fn another_accounts_signature_is_refused() {
    let s = setup().await;
    let c = challenge(&s.server, &s.me.address).await;
    let r = verify(
        &s.server,
        &s.me.address,
        &c["nonce"],
        sign(&c["typed_data"], &s.other),
    )
    .await;
    assert_eq!((r.status, code(&r)), (401, "invalid_signature".into()));
}

#[tokio::test]
async fn a_signature_for_another_chain_is_refused() {
    let s = setup().await;
    let c = challenge(&s.server, &s.me.address).await;
    let mut typed = c["typed_data"].clone();
    typed["domain"]["chainId"] = json!("SN_MAIN");
    let r = verify(&s.server, &s.me.address, &c["nonce"], sign(&typed, &s.me)).await;
    assert_eq!((r.status, code(&r)), (401, "invalid_signature".into()));
}

#[tokio::test]
async fn a_signature_for_another_domain_is_refused() {
    let s = setup().await;
    let c = challenge(&s.server, &s.me.address).await;
    let mut typed = c["typed_data"].clone();
    typed["domain"]["name"] = json!("other-world");
    let r = verify(&s.server, &s.me.address, &c["nonce"], sign(&typed, &s.me)).await;
    assert_eq!((r.status, code(&r)), (401, "invalid_signature".into()));
}

#[tokio::test]
async fn a_replayed_nonce_is_refused() {
    let s = setup().await;
    let c = challenge(&s.server, &s.me.address).await;
    let signature = sign(&c["typed_data"], &s.me);
    assert_eq!(
        verify(&s.server, &s.me.address, &c["nonce"], signature.clone())
            .await
            .status,
        200
    );
    let r = verify(&s.server, &s.me.address, &c["nonce"], signature).await;
    assert_eq!((r.status, code(&r)), (401, "invalid_nonce".into()));
}

#[tokio::test]
async fn a_nonce_issued_to_another_address_is_refused() {
    let s = setup().await;
    let c = challenge(&s.server, &s.other.address).await;
    let r = verify(
        &s.server,
        &s.me.address,
        &c["nonce"],
        sign(&c["typed_data"], &s.me),
    )
    .await;
    assert_eq!((r.status, code(&r)), (401, "invalid_nonce".into()));
}

#[tokio::test]
async fn an_undeployed_account_gets_its_own_code() {
    let s = setup().await;
    let ghost = "0x0123456789abcdef";
    let c = challenge(&s.server, ghost).await;
    let r = verify(
        &s.server,
        ghost,
        &c["nonce"],
        vec!["0x1".into(), "0x2".into()],
    )
    .await;
    assert_eq!((r.status, code(&r)), (401, "account_not_deployed".into()));
}

#[tokio::test]
async fn malformed_sign_in_requests_are_bad_requests() {
    let s = setup().await;
    let r = verify(&s.server, "bob", &json!("0x1"), vec!["0x1".into()]).await;
    assert_eq!((r.status, code(&r)), (400, "bad_request".into()));
    let r = verify(&s.server, &s.me.address, &json!("0x1"), vec!["zz".into()]).await;
    assert_eq!((r.status, code(&r)), (400, "bad_request".into()));
    let r = http::post_json(
        s.server.addr,
        "/v1/auth/verify",
        &json!({"address": s.me.address}),
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, "bad_request".into()));
}

#[tokio::test]
async fn an_expired_challenge_is_refused() {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let server = server(&devnet.url(), "challenge_ttl = \"1s\"\n").await;
    let me = &accounts[0];
    let c = challenge(&server, &me.address).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = verify(
        &server,
        &me.address,
        &c["nonce"],
        sign(&c["typed_data"], me),
    )
    .await;
    assert_eq!((r.status, code(&r)), (401, "invalid_nonce".into()));
}

#[tokio::test]
async fn an_unreachable_rpc_node_is_a_503() {
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = server(&format!("http://{closed}/rpc"), "rpc_timeout = \"2s\"\n").await;
    let me = &accounts[0];
    let c = challenge(&server, &me.address).await;
    let r = verify(
        &server,
        &me.address,
        &c["nonce"],
        sign(&c["typed_data"], me),
    )
    .await;
    assert_eq!((r.status, code(&r)), (503, "unavailable".into()));
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_ip() {
    let devnet = Devnet::start().await;
    let server = server(&devnet.url(), "per_ip_burst = 3\nper_ip_per_second = 0.1\n").await;
    for _ in 0..3 {
        challenge(&server, "0x1").await;
    }
    let r = http::post_json(
        server.addr,
        "/v1/auth/challenge",
        &json!({"address": "0x1"}),
    )
    .await;
    assert_eq!((r.status, code(&r)), (429, "rate_limited".into()));
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn without_configuration_sign_in_does_not_exist() {
    let server = Server::start().await;
    let r = http::post_json(
        server.addr,
        "/v1/auth/challenge",
        &json!({"address": "0x1"}),
    )
    .await;
    assert_eq!((r.status, code(&r)), (404, "not_found".into()));
}

/// A node that answers with a rate limit or an internal error has not said the signature is
/// bad: the client is told `unavailable`, and the same nonce and signature work once the
/// node answers again.
#[tokio::test]
async fn provider_errors_are_unavailable_and_leave_the_nonce_usable() {
    use e2e::rpc_proxy::{Mode, RpcProxy};
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let proxy = RpcProxy::start(devnet.addr).await;
    let server = server(&proxy.url(), "").await;
    let me = &accounts[0];
    let c = challenge(&server, &me.address).await;
    let signature = sign(&c["typed_data"], me);
    for mode in [Mode::RateLimited, Mode::InternalError] {
        proxy.set(mode);
        let r = verify(&server, &me.address, &c["nonce"], signature.clone()).await;
        assert_eq!(
            (r.status, code(&r)),
            (503, "unavailable".into()),
            "{mode:?}"
        );
        assert!(r.header("retry-after").is_some());
    }
    proxy.set(Mode::OutOfRange);
    let r = verify(&server, &me.address, &c["nonce"], signature.clone()).await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "bad_request".into()),
        "an out-of-range answer is a bad request, not a bad signature"
    );
    let c = challenge(&server, &me.address).await;
    let signature = sign(&c["typed_data"], me);
    proxy.set(Mode::InternalError);
    let r = verify(&server, &me.address, &c["nonce"], signature.clone()).await;
    assert_eq!(r.status, 503);
    proxy.set(Mode::Forward);
    let r = verify(&server, &me.address, &c["nonce"], signature).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Felts are taken in canonical form only, before any RPC call: a signature element equal to
/// the prime, `r + p` (which would reduce to `r`), a negative decimal.
#[tokio::test]
async fn non_canonical_felts_are_refused_before_any_rpc_call() {
    use e2e::rpc_proxy::RpcProxy;
    const P: &str = "3618502788666131213697322783095070105623107215331596699973092056135872020481";
    let devnet = Devnet::start().await;
    let accounts = devnet.accounts().await;
    let proxy = RpcProxy::start(devnet.addr).await;
    let server = server(&proxy.url(), "").await;
    let me = &accounts[0];
    let c = challenge(&server, &me.address).await;
    let good = sign(&c["typed_data"], me);
    let r_plus_p = {
        let r = starknet_core::types::Felt::from_dec_str(&good[0]).unwrap();
        let sum = r.to_biguint() + starknet_core::types::Felt::MAX.to_biguint() + 1u32;
        sum.to_string()
    };
    for (name, signature) in [
        ("r + p", vec![r_plus_p, good[1].clone()]),
        ("p", vec![P.to_owned(), good[1].clone()]),
        (
            "p in hex",
            vec![
                "0x800000000000011000000000000000000000000000000000000000000000001".into(),
                good[1].clone(),
            ],
        ),
        ("negative", vec![format!("-{}", good[0]), good[1].clone()]),
        ("65 felts", vec!["0x1".to_owned(); 65]),
    ] {
        let r = verify(&server, &me.address, &c["nonce"], signature).await;
        assert_eq!((r.status, code(&r)), (400, "bad_request".into()), "{name}");
    }
    assert_eq!(proxy.calls(), 0, "no RPC call for a malformed signature");
    // The nonce was not used up by malformed requests.
    let r = verify(&server, &me.address, &c["nonce"], good).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn addresses_and_nonces_out_of_form_are_bad_requests() {
    let s = setup().await;
    let over = format!("0x8{}", "0".repeat(62));
    let r = http::post_json(
        s.server.addr,
        "/v1/auth/challenge",
        &json!({ "address": over }),
    )
    .await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "bad_request".into()),
        "{}",
        r.body
    );
    for nonce in [
        "0x1",
        "nonce",
        &format!("0x{}", "A".repeat(60)),
        &format!("0x{}", "0".repeat(61)),
    ] {
        let r = verify(&s.server, &s.me.address, &json!(nonce), vec!["0x1".into()]).await;
        assert_eq!((r.status, code(&r)), (400, "bad_request".into()), "{nonce}");
    }
}

/// `[auth.starknet] chain_id` must be the chain the node serves.
#[tokio::test]
async fn a_node_on_another_chain_stops_the_server_at_start() {
    let devnet = Devnet::start().await;
    let dir = std::env::temp_dir().join(e2e::unique("realtime_chain"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("realtime.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\nurl = \"sqlite://{d}/r.db\"\n\
             [auth]\nsession_secret_file = \"{d}/session.key\"\n\
             [auth.starknet]\nrpc_url = \"{url}\"\ndomain_name = \"w\"\nchain_id = \"SN_MAIN\"\n",
            d = dir.display(),
            url = devnet.url()
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(e2e::binary())
            .args(["serve", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("SN_MAIN") && err.contains("SN_SEPOLIA"),
        "names both chains: {err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
