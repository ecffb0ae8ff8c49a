//! The `torii-realtime` binary; see `realtime_server::cli`.

use std::process::ExitCode;

use clap::Parser;
use realtime_server::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    realtime_server::commands::run(cli)
}
