//! `feishu-sim`: runs the Feishu simulator until Ctrl-C or SIGTERM.
//!
//! Prints `feishu-sim listening on <base URL>` on stdout once it accepts connections; logs one
//! line per API request on stderr (`RUST_LOG` filters).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use feishu_sim::{
    DEFAULT_APP_ID, DEFAULT_APP_SECRET, DuplicateUuidAnswer, RateLimits, SimConfig, SimSettings,
    Simulator,
};
use tracing_subscriber::EnvFilter;

/// A local Feishu OpenAPI simulator (token, third-party approval, approval bot cards).
#[derive(Debug, Parser)]
#[command(name = "feishu-sim", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "FEISHU_SIM_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "FEISHU_SIM_PORT", default_value_t = 8099)]
    port: u16,
    /// App id the token endpoint accepts.
    #[arg(long, env = "FEISHU_SIM_APP_ID", default_value = DEFAULT_APP_ID)]
    app_id: String,
    /// App secret the token endpoint accepts.
    #[arg(long, env = "FEISHU_SIM_APP_SECRET", default_value = DEFAULT_APP_SECRET, hide_env_values = true, hide_default_value = true)]
    app_secret: String,
    /// Tenant token lifetime in seconds.
    #[arg(long, env = "FEISHU_SIM_TOKEN_LIFETIME_SECS", default_value_t = 7200)]
    token_lifetime_secs: u64,
    /// What message/send answers to a uuid repeated within the hour: first_id, none or new_id.
    #[arg(long, env = "FEISHU_SIM_DUPLICATE_UUID", default_value_t = DuplicateUuidAnswer::FirstId)]
    duplicate_uuid: DuplicateUuidAnswer,
    /// Most instances per external_instances/check call (default: no limit).
    #[arg(long, env = "FEISHU_SIM_CHECK_BATCH_LIMIT")]
    check_batch_limit: Option<NonZeroUsize>,
    /// Enforce Feishu's per-API rate windows: `fixed` or `sliding` (50/s and 1000/min for every
    /// API), or a rate_limits JSON object (README, Settings). Default: no rate limits.
    #[arg(
        long,
        env = "FEISHU_SIM_RATE_LIMITS",
        value_name = "fixed|sliding|JSON"
    )]
    rate_limits: Option<RateLimits>,
}

/// Resolves on Ctrl-C, or SIGTERM on Unix.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = SimConfig {
        app_id: cli.app_id,
        app_secret: cli.app_secret,
        token_lifetime: Duration::from_secs(cli.token_lifetime_secs),
        bind: SocketAddr::new(cli.host, cli.port),
        settings: SimSettings {
            duplicate_uuid: cli.duplicate_uuid,
            check_batch_limit: cli.check_batch_limit,
            rate_limits: cli.rate_limits,
        },
    };
    let simulator = match Simulator::start(config).await {
        Ok(simulator) => simulator,
        Err(error) => {
            eprintln!("feishu-sim: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("feishu-sim listening on {}", simulator.base_url());
    stop_signal().await;
    match simulator.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("feishu-sim: {error}");
            ExitCode::FAILURE
        }
    }
}
