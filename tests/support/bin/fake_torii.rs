//! `fake-torii`: the fake Torii of the end-to-end tests as a process of its own, so that tests
//! written in other languages (the TypeScript client's browser tests) can run the server
//! against an on-chain world they shape as they go.
//!
//! It serves the world of config/eternum-blitz.toml (its models registered, no entity yet)
//! and prints one JSON line first:
//!
//! ```text
//! {"listening":"127.0.0.1:PORT","env":{"TORII_REALTIME__TORII__GRPC_URL":"http://…",…}}
//! ```
//!
//! `env` holds the overrides that point `torii-realtime serve --config
//! config/eternum-blitz.toml` at it. Then it reads one JSON command per line on stdin and
//! answers each on stdout with `{"ok":true}` or `{"error":"…"}`, until stdin closes (blank
//! lines are skipped; a bad line is answered and the process goes on):
//!
//! - `{"op":"player","address":"0x…","name":"alice"}`: the address's `AddressName`, the name
//!   a Cairo short string (ASCII, at most 31 characters). A non-empty name makes the address
//!   a player; `""` makes it no player again.
//! - `{"op":"join_guild","address":"0x…","guild":"0x9001"}`: its `GuildMember` record, which
//!   opens channel `guild:0x9001` to it; `{"op":"leave_guild","address":"0x…"}` deletes it.
//! - `{"op":"structure","id":7,"owner":"0x…","x":100,"y":100}`: a `Structure` on a tile,
//!   owned by the address (another owner later is a capture).
//! - `{"op":"explorer","id":1,"structure":7,"x":101,"y":100}`: an `ExplorerTroops` of a
//!   structure sent before, owned by that structure's owner; sent again, a move.
//!
//! Each logical thing (a player's name, a membership, a structure, an explorer) keeps one
//! entity, so sending it again updates that entity as Torii would. `ok` means the update has
//! been sent to Torii's subscribers: the server applies it a moment later.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::process::ExitCode;

use e2e::blitz;
use realtime_core::Address;
use serde_json::{Map, Value, json};
use torii_plugin::fake::FakeTorii;

const USAGE: &str = "usage: fake-torii [--port N]\n\
    Serves the world of config/eternum-blitz.toml through a fake Torii on 127.0.0.1:N (any \
    free port by default), prints {\"listening\",\"env\"} as one JSON line, then applies the \
    JSON commands read from stdin, one a line (see the source for the list).";

fn main() -> ExitCode {
    let port = match port(std::env::args().skip(1)) {
        Ok(Some(port)) => port,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fake-torii: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-torii: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The port to listen on, or `None` when help was asked for.
fn port(mut args: impl Iterator<Item = String>) -> Result<Option<u16>, String> {
    let mut port = 0;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value
                    .parse()
                    .map_err(|_| format!("--port {value:?} is not a port number"))?;
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(Some(port))
}

fn run(port: u16) -> Result<(), String> {
    // The gRPC server runs on the runtime's threads; this one reads stdin.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let world: Address = blitz::WORLD
        .parse()
        .map_err(|e| format!("world address: {e}"))?;
    let torii = runtime
        .block_on(FakeTorii::start(world, port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    blitz::add_models(&torii);
    let env: Map<String, Value> = blitz::torii_env(&torii)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut out = std::io::stdout().lock();
    // Written by hand to keep `listening` first, as documented.
    let listening = Value::String(format!("127.0.0.1:{}", torii.port()));
    let env = Value::Object(env);
    writeln!(out, "{{\"listening\":{listening},\"env\":{env}}}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))?;

    let mut chain = Chain::new(&torii);
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("stdin: {e}")),
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        let answer = match chain.apply(&text) {
            Ok(()) => json!({"ok": true}),
            Err(e) => json!({"error": e}),
        };
        // Nobody is reading any more: stop as when stdin closes.
        if writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return Ok(());
        }
    }
}

/// The on-chain state the commands build, and the entity each logical thing lives in.
#[derive(Debug)]
struct Chain<'a> {
    torii: &'a FakeTorii,
    /// (what, key) → entity id, given out in order and kept for the process's life.
    ids: HashMap<(&'static str, String), u64>,
    /// Structures sent so far: an explorer belongs to one of them.
    structures: HashSet<u32>,
    /// Addresses whose membership record exists now.
    members: HashSet<Address>,
}

impl<'a> Chain<'a> {
    fn new(torii: &'a FakeTorii) -> Self {
        Self {
            torii,
            ids: HashMap::new(),
            structures: HashSet::new(),
            members: HashSet::new(),
        }
    }

    /// The entity of `what` `key`: the same one each time.
    fn id(&mut self, what: &'static str, key: String) -> u64 {
        let next = self.ids.len() as u64 + 1;
        *self.ids.entry((what, key)).or_insert(next)
    }

    fn apply(&mut self, line: &str) -> Result<(), String> {
        let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let command = Command(
            value
                .as_object()
                .ok_or("a command is a JSON object with an \"op\"")?,
        );
        let op = command.str("op")?;
        match op {
            "player" => {
                command.only(&["address", "name"])?;
                let who = command.address("address")?;
                let name = short_string(command.str("name")?)?;
                let id = self.id("player", who.to_string());
                self.torii.set(id, blitz::named(who, name));
            }
            "join_guild" => {
                command.only(&["address", "guild"])?;
                let who = command.address("address")?;
                let guild = command.address("guild")?;
                let id = self.id("member", who.to_string());
                self.torii.set(id, blitz::guild_member(who, guild));
                self.members.insert(who);
            }
            "leave_guild" => {
                command.only(&["address"])?;
                let who = command.address("address")?;
                if !self.members.remove(&who) {
                    return Err(format!("{who} is in no guild"));
                }
                let id = self.id("member", who.to_string());
                self.torii.delete(id, blitz::MEMBER);
            }
            "structure" => {
                command.only(&["id", "owner", "x", "y"])?;
                let structure = command.u32("id")?;
                let owner = command.address("owner")?;
                let (x, y) = (command.u32("x")?, command.u32("y")?);
                let id = self.id("structure", structure.to_string());
                self.torii.set(id, blitz::structure(structure, owner, x, y));
                self.structures.insert(structure);
            }
            "explorer" => {
                command.only(&["id", "structure", "x", "y"])?;
                let explorer = command.u32("id")?;
                let structure = command.u32("structure")?;
                let (x, y) = (command.u32("x")?, command.u32("y")?);
                // Its owner is found through the structure: without one, nobody owns it.
                if !self.structures.contains(&structure) {
                    return Err(format!(
                        "structure {structure} was never sent: send it before its explorers"
                    ));
                }
                let id = self.id("explorer", explorer.to_string());
                self.torii
                    .set(id, blitz::explorer(explorer, structure, x, y));
            }
            other => {
                return Err(format!(
                    "unknown op {other:?} (player, join_guild, leave_guild, structure, explorer)"
                ));
            }
        }
        Ok(())
    }
}

/// One command's fields.
#[derive(Debug)]
struct Command<'a>(&'a Map<String, Value>);

impl Command<'_> {
    /// Refuses fields the op does not take, so a misspelt one is not silently ignored.
    fn only(&self, fields: &[&str]) -> Result<(), String> {
        match self
            .0
            .keys()
            .find(|k| *k != "op" && !fields.contains(&k.as_str()))
        {
            Some(k) => Err(format!("unknown field {k:?} (expected {fields:?})")),
            None => Ok(()),
        }
    }

    fn field(&self, name: &str) -> Result<&Value, String> {
        self.0.get(name).ok_or_else(|| format!("missing {name:?}"))
    }

    fn str(&self, name: &str) -> Result<&str, String> {
        self.field(name)?
            .as_str()
            .ok_or_else(|| format!("{name:?} must be a string"))
    }

    fn address(&self, name: &str) -> Result<Address, String> {
        let text = self.str(name)?;
        text.parse().map_err(|e| format!("{name:?} {text:?}: {e}"))
    }

    fn u32(&self, name: &str) -> Result<u32, String> {
        self.field(name)?
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("{name:?} must be an integer from 0 to {}", u32::MAX))
    }
}

/// `text` as a Cairo short string: its ASCII bytes as a big-endian felt (zero when empty).
fn short_string(text: &str) -> Result<[u8; 32], String> {
    if !text.is_ascii() || text.len() > 31 {
        return Err(format!(
            "name {text:?} is not a short string (ASCII, at most 31 characters)"
        ));
    }
    let mut felt = [0u8; 32];
    felt[32 - text.len()..].copy_from_slice(text.as_bytes());
    Ok(felt)
}

#[cfg(test)]
mod tests {
    use super::short_string;

    #[test]
    fn names_are_cairo_short_strings() {
        let felt = short_string("alice").unwrap_or_default();
        assert_eq!(&felt[27..], b"alice");
        assert!(felt[..27].iter().all(|b| *b == 0));
        assert_eq!(short_string(""), Ok([0; 32]));
        assert!(short_string(&"a".repeat(32)).is_err());
        assert!(short_string("é").is_err());
    }
}
