//! What each command does. Exit codes: 0 success, 1 failure (the message names the cause),
//! 2 bad usage (from the argument parser).

mod healthcheck;

use std::process::ExitCode;
use std::time::Duration;

use realtime_core::Address;
use realtime_store::Store;
use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, ConfigAction, MigrateAction};
use crate::config::{Config, Loaded};
use realtime_auth::token::Tokens;

/// Why a command failed; printed as `error: …` with exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Serve(#[from] crate::serve::ServeError),
    #[error("storage {url}: {source}")]
    Storage {
        url: String,
        source: realtime_store::StoreError,
    },
    #[error("{0}")]
    Migration(realtime_store::StoreError),
    #[error("{0}")]
    Keys(#[from] realtime_auth::token::KeyError),
    /// A development token cannot be minted: switched off, or a bad argument.
    #[error("{0}")]
    Token(String),
    /// The server did not answer its readiness probe with a 200.
    #[error("{0}")]
    Probe(#[from] healthcheck::ProbeError),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve { config } => load(config.config.as_deref()).and_then(|loaded| {
            crate::logging::init(&loaded.config.log);
            Ok(runtime()?.block_on(crate::serve::serve(loaded, CancellationToken::new()))?)
        }),
        Command::Migrate { action, config } => {
            load(config.config.as_deref()).and_then(|loaded| migrate(action, loaded))
        }
        Command::Config {
            action: ConfigAction::Check { file, print },
        } => load(Some(&file)).map(|loaded| {
            println!("{}: ok", file.display());
            if print {
                print!("{}", loaded.config.to_redacted_toml());
            }
        }),
        Command::Token {
            address,
            ttl,
            moderator,
            config,
        } => load(config.config.as_deref())
            .and_then(|loaded| token(&loaded.config, &address, ttl, moderator)),
        Command::Healthcheck {
            url,
            timeout,
            config,
        } => healthcheck::run(url, &timeout, config.config.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load(file: Option<&std::path::Path>) -> Result<Loaded, CommandError> {
    Ok(Config::load(file)?)
}

fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Runtime)
}

fn migrate(action: MigrateAction, loaded: Loaded) -> Result<(), CommandError> {
    let storage = loaded.config.storage;
    runtime()?.block_on(async move {
        let store = Store::connect(&storage)
            .await
            .map_err(|source| CommandError::Storage {
                url: storage.redacted_url(),
                source,
            })?;
        let outcome = match action {
            MigrateAction::Up { dry_run: true } => store.migration_status().await.map(|status| {
                let pending = status.pending();
                if pending.is_empty() {
                    println!("nothing to apply");
                }
                for (version, description) in &status.known {
                    if pending.contains(version) {
                        println!("would apply {version} {description}");
                    }
                }
            }),
            MigrateAction::Up { dry_run: false } => store.migrate_up().await.map(|applied| {
                if applied.is_empty() {
                    println!("nothing to apply");
                }
                for v in applied {
                    println!("applied {v}");
                }
            }),
            MigrateAction::Down { n, dry_run: true } => {
                store.migration_status().await.map(|status| {
                    let newest: Vec<&i64> = status.applied.iter().rev().take(n).collect();
                    if newest.is_empty() {
                        println!("nothing to revert");
                    }
                    for version in newest {
                        let description = status
                            .known
                            .iter()
                            .find(|(v, _)| v == version)
                            .map_or("(unknown to this build)", |(_, d)| d.as_str());
                        println!("would revert {version} {description}");
                    }
                })
            }
            MigrateAction::Down { n, dry_run: false } => {
                store.migrate_down(n).await.map(|reverted| {
                    if reverted.is_empty() {
                        println!("nothing to revert");
                    }
                    for v in reverted {
                        println!("reverted {v}");
                    }
                })
            }
            MigrateAction::Status => store.migration_status().await.map(|status| {
                for (version, description) in &status.known {
                    let state = if status.applied.contains(version) {
                        "applied"
                    } else {
                        "pending"
                    };
                    println!("{version:>4}  {state:<8} {description}");
                }
            }),
        };
        store.close().await;
        outcome.map_err(CommandError::Migration)
    })
}

fn token(
    config: &Config,
    address: &str,
    ttl: Option<String>,
    moderator: bool,
) -> Result<(), CommandError> {
    if !config.auth.dev_tokens {
        return Err(CommandError::Token(
            "development tokens are disabled; set `[auth] dev_tokens = true` \
             (or TORII_REALTIME__AUTH__DEV_TOKENS=true) on a development server"
                .into(),
        ));
    }
    let address: Address = address
        .parse()
        .map_err(|e| CommandError::Token(format!("--address {address:?}: {e}")))?;
    let ttl: Duration = match ttl {
        Some(t) => realtime_core::duration::parse(&t)
            .map_err(|e| CommandError::Token(format!("--ttl: {e}")))?,
        None => config.auth.session_ttl,
    };
    let tokens = Tokens::from_config(&config.auth)?.for_world(config.token_world());
    let (token, _) = tokens.mint_as(address, ttl, true, moderator)?;
    println!("{token}");
    Ok(())
}
