//! A world as config/eternum-blitz.toml describes it, served by the fake Torii, and a server
//! following it: the fixture of the on-chain tests.

use std::path::PathBuf;
use std::time::Duration;

use realtime_core::Address;
use torii_plugin::fake::FakeTorii;
use torii_plugin::proto::types::Struct;
use torii_plugin::value::build::*;

use crate::{Options, Server, http};

pub const NAME: &str = "s1_eternum-AddressName";
pub const MEMBER: &str = "s1_eternum-GuildMember";
pub const STRUCTURE: &str = "s1_eternum-Structure";
pub const EXPLORER: &str = "s1_eternum-ExplorerTroops";
pub const WORLD: &str = "0x7071";
pub const GUILD: &str = "0x9001";

pub fn a(n: u64) -> Address {
    format!("0x{n:x}").parse().unwrap()
}

pub fn name(addr: Address, n: u64) -> Struct {
    named(addr, felt_of(n))
}

/// The name record with the name as a felt (in the game, a Cairo short string).
pub fn named(addr: Address, name: [u8; 32]) -> Struct {
    model(
        NAME,
        vec![
            member("address", address(addr), true),
            member("name", felt(name), false),
        ],
    )
}

pub fn guild_member(addr: Address, guild: Address) -> Struct {
    model(
        MEMBER,
        vec![
            member("member", address(addr), true),
            member("guild_id", address(guild), false),
        ],
    )
}

pub fn structure(id: u32, owner: Address, x: u32, y: u32) -> Struct {
    model(
        STRUCTURE,
        vec![
            member("entity_id", u32(id), true),
            member("owner", address(owner), false),
            member(
                "base",
                nested(
                    "StructureBase",
                    vec![
                        member("category", u8(1), false),
                        member("coord_x", u32(x), false),
                        member("coord_y", u32(y), false),
                    ],
                ),
                false,
            ),
        ],
    )
}

pub fn coord(x: u32, y: u32) -> torii_plugin::proto::types::Member {
    member(
        "coord",
        nested(
            "Coord",
            vec![member("x", u32(x), false), member("y", u32(y), false)],
        ),
        false,
    )
}

pub fn explorer(id: u32, owner_structure: u32, x: u32, y: u32) -> Struct {
    model(
        EXPLORER,
        vec![
            member("explorer_id", u32(id), true),
            member("owner", u32(owner_structure), false),
            coord(x, y),
        ],
    )
}

pub fn config_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/eternum-blitz.toml")
}

/// A world: players 1–3 named, 4 not; guild 0x9001 with 1 and 2; structure 7 of player 1 at
/// (100, 100) with explorer 1 next to it; structure 8 of player 3 at (500, 500) with explorer 2.
pub async fn world() -> FakeTorii {
    let t = FakeTorii::start(WORLD.parse().unwrap(), 0).await.unwrap();
    add_models(&t);
    for p in 1..=3 {
        t.set(p, name(a(p), 100 + p));
    }
    t.set(4, name(a(4), 0));
    t.set(11, guild_member(a(1), GUILD.parse().unwrap()));
    t.set(12, guild_member(a(2), GUILD.parse().unwrap()));
    t.set(107, structure(7, a(1), 100, 100));
    t.set(108, structure(8, a(3), 500, 500));
    t.set(201, explorer(1, 7, 101, 100));
    t.set(202, explorer(2, 8, 501, 500));
    t
}

/// Registers the world's models (their schemas taken from example records), as the server
/// checks its rules against them before following the world.
pub fn add_models(t: &FakeTorii) {
    t.add_model(&name(a(1), 1));
    t.add_model(&guild_member(a(1), a(1)));
    t.add_model(&structure(1, a(1), 0, 0));
    t.add_model(&explorer(1, 1, 0, 0));
}

/// Points the server at the fake Torii, with quick reconnects.
pub fn torii_env(torii: &FakeTorii) -> Vec<(String, String)> {
    vec![
        ("TORII_REALTIME__TORII__GRPC_URL".into(), torii.url()),
        ("TORII_REALTIME__TORII__WORLD_ADDRESS".into(), WORLD.into()),
        ("TORII_REALTIME__TORII__RECONNECT_MIN".into(), "50ms".into()),
        (
            "TORII_REALTIME__TORII__RECONNECT_MAX".into(),
            "200ms".into(),
        ),
    ]
}

pub async fn server_for(torii: &FakeTorii) -> Server {
    let server = Server::start_with(Options {
        config_file: Some(config_file()),
        env: torii_env(torii),
        ..Options::default()
    })
    .await;
    wait_ready(&server).await;
    server
}

pub async fn wait_ready(server: &Server) {
    for _ in 0..250 {
        if http::get(server.addr, "/readyz", &[]).await.status == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "not ready: {:?}",
        http::get(server.addr, "/v1/status", &[]).await.body
    );
}

pub fn who(n: u64) -> String {
    format!("0x{n:x}")
}
