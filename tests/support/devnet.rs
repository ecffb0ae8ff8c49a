//! A real Starknet devnet (`starknet-devnet` 0.10.1, installed by scripts/services.sh under
//! /opt/starknet-devnet) with predeployed accounts (`--seed 0`), for sign-in tests with real
//! account contracts.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http;

/// A running devnet.
pub struct Devnet {
    child: Child,
    pub addr: SocketAddr,
}

/// A predeployed account.
#[derive(Debug, Clone)]
pub struct Account {
    pub address: String,
    pub private_key: String,
}

fn binary() -> String {
    std::env::var("STARKNET_DEVNET_BIN")
        .unwrap_or_else(|_| "/opt/starknet-devnet/bin/starknet-devnet".into())
}

impl Devnet {
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(binary())
            .args([
                "--seed",
                "0",
                "--accounts",
                "3",
                "--host",
                "127.0.0.1",
                "--port",
            ])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} is needed (scripts/services.sh installs it): {e}",
                    binary()
                )
            });
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let devnet = Self { child, addr };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(addr).await.is_ok()
                && devnet
                    .rpc("starknet_chainId", json!([]))
                    .await
                    .get("result")
                    .is_some()
            {
                return devnet;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("devnet did not start on {addr}");
    }

    /// The JSON-RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}/rpc", self.addr)
    }

    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        http::post_json(self.addr, "/rpc", &body).await.json()
    }

    /// The predeployed accounts with their keys.
    pub async fn accounts(&self) -> Vec<Account> {
        let v = self.rpc("devnet_getPredeployedAccounts", json!({})).await;
        v["result"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| Account {
                address: a["address"].as_str().unwrap_or_default().to_owned(),
                private_key: a["private_key"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
