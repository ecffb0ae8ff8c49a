//! Command line. Every command takes `--config FILE` (or `TORII_REALTIME_CONFIG`); with no
//! file the built-in defaults apply, and `TORII_REALTIME__…` variables override either.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The realtime social layer beside a Torii indexer: chat, presence and on-chain updates
/// over one WebSocket.
#[derive(Debug, Parser)]
#[command(name = "torii-realtime", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where to read the configuration.
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// TOML config file; without one the built-in defaults apply.
    #[arg(
        long,
        short = 'c',
        env = "TORII_REALTIME_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server until SIGTERM or Ctrl-C.
    Serve {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Apply, revert or list database migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Mint a development session token (only when `[auth] dev_tokens = true`).
    Token {
        /// The Starknet address the token speaks for (any valid spelling).
        #[arg(long, value_name = "ADDR")]
        address: String,
        /// Lifetime, e.g. `30m`, `12h`; defaults to `[auth] session_ttl`.
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        /// Mark the token as a moderator's (`moderator: true`), for the moderation API.
        #[arg(long)]
        moderator: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Ask a running server whether it is ready (`/readyz`): exit 0 when ready, 1 otherwise.
    /// For container health checks, where the image has no HTTP client.
    Healthcheck {
        /// The URL to probe; by default `/readyz` on the port of `server.listen` (a wildcard
        /// address is probed on loopback).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// How long to wait for the answer, e.g. `2s`.
        #[arg(long, value_name = "DURATION", default_value = "3s")]
        timeout: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up {
        /// Print what would be applied, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Revert the N newest applied migrations (default 1). Reverting drops what they store.
    Down {
        #[arg(default_value_t = 1)]
        n: usize,
        /// Print what would be reverted, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List known migrations and whether each is applied.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate a config file (with environment overrides) and report the first error.
    Check {
        /// The file to check.
        file: PathBuf,
        /// Print the effective configuration, secrets hidden.
        #[arg(long)]
        print: bool,
    },
}
