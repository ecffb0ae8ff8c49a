//! `realtime-bench`: the load generator of torii-realtime. It starts the servers it measures
//! (this repository's binary and, for comparison, the Bun + Hono peer), drives them over
//! loopback, and reports deliveries per server CPU-second, latency percentiles and memory.
//! Every loop is bounded in count and time.

mod clients;
mod fanout;
mod idle;
mod instances;
mod onchain;
mod procfs;
mod recovery;
mod servers;
mod stats;
mod suite;
mod throughput;
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "realtime-bench", about = "Load generator of torii-realtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the servers under test come from.
#[derive(Debug, Clone, Args)]
pub struct Servers {
    /// The torii-realtime binary to measure.
    #[arg(long, default_value = "target/release/torii-realtime")]
    pub server_bin: PathBuf,
    /// The `bun` executable for the peer; without it the peer is skipped.
    #[arg(long)]
    pub bun: Option<PathBuf>,
    /// The peer's server script (with `hono` resolvable from its directory).
    #[arg(long)]
    pub peer_script: Option<PathBuf>,
    /// Also measure torii-realtime on this Postgres database (on this machine: the CPU of
    /// every `postgres` process is charged to it).
    #[arg(long)]
    pub postgres_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The standard set: every scenario on torii-realtime and the peer, as a Markdown report.
    Suite {
        #[command(flatten)]
        servers: Servers,
        /// A short run of every scenario (about 20 s), for CI: figures printed, not kept.
        #[arg(long)]
        smoke: bool,
        /// Write the report into this file between its `bench:begin` and `bench:end` markers.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One fan-out run against one server.
    Fanout {
        #[command(flatten)]
        servers: Servers,
        /// `realtime`, `realtime-postgres` or `peer`.
        #[arg(long, default_value = "realtime")]
        target: String,
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 10)]
        publishers: usize,
        /// Publishes per second over all publishers.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds of publishing.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Fan-out across two instances over Redis (publishers on A, subscribers on B), beside
    /// the same run on one instance; both over `--postgres-url`.
    Instances {
        #[command(flatten)]
        servers: Servers,
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 10)]
        publishers: usize,
        /// Publishes per second over all publishers.
        #[arg(long, default_value_t = 200.0)]
        rate: f64,
        /// Seconds of publishing.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Idle connections against one server: memory per connection.
    Idle {
        #[command(flatten)]
        servers: Servers,
        #[arg(long, default_value = "realtime")]
        target: String,
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
    },
    /// Publish throughput of one channel on torii-realtime.
    Throughput {
        #[command(flatten)]
        servers: Servers,
        /// `realtime` or `realtime-postgres`.
        #[arg(long, default_value = "realtime")]
        target: String,
        #[arg(long, default_value_t = 20)]
        publishers: usize,
        /// Publishes each publisher keeps in flight.
        #[arg(long, default_value_t = 32)]
        window: usize,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// On-chain routing on torii-realtime, fed by a fake Torii in this process.
    Onchain {
        #[command(flatten)]
        servers: Servers,
        #[arg(long, default_value_t = 10_000)]
        viewports: usize,
        /// Entity updates per second.
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// The recovery storm on torii-realtime.
    Recovery {
        #[command(flatten)]
        servers: Servers,
        #[arg(long, default_value_t = 5000)]
        clients: usize,
        #[arg(long, default_value_t = 100)]
        missed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("realtime-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Suite {
                servers,
                smoke,
                out,
            } => suite::run(&servers, smoke, out.as_deref()).await,
            Command::Fanout {
                servers,
                target,
                rooms,
                subscribers,
                publishers,
                rate,
                seconds,
            } => {
                let spec = fanout::Spec {
                    rooms,
                    subscribers,
                    publishers,
                    rate,
                    duration: Duration::from_secs(seconds),
                    run: suite::run_id(),
                };
                suite::fanout_one(&servers, &target, &spec).await
            }
            Command::Instances {
                servers,
                subscribers,
                publishers,
                rate,
                seconds,
            } => {
                let spec = fanout::Spec {
                    rooms: 1,
                    subscribers,
                    publishers,
                    rate,
                    duration: Duration::from_secs(seconds),
                    run: suite::run_id(),
                };
                suite::instances_one(&servers, &spec).await
            }
            Command::Idle {
                servers,
                target,
                connections,
            } => suite::idle_one(&servers, &target, connections).await,
            Command::Throughput {
                servers,
                target,
                publishers,
                window,
                seconds,
            } => {
                let spec = throughput::Spec {
                    publishers,
                    window,
                    subscribers: 10,
                    duration: Duration::from_secs(seconds),
                    run: suite::run_id(),
                };
                suite::throughput_one(&servers, &target, &spec).await
            }
            Command::Onchain {
                servers,
                viewports,
                rate,
                seconds,
            } => {
                let spec = onchain::Spec {
                    viewports,
                    rate,
                    duration: Duration::from_secs(seconds),
                };
                suite::onchain_one(&servers, &spec).await
            }
            Command::Recovery {
                servers,
                clients,
                missed,
            } => suite::recovery_one(&servers, clients, missed).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("realtime-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
