//! `lambda-async`: serves the Lambda Invoke API with asynchronous semantics in front of
//! `cargo lambda watch`, until Ctrl-C or SIGTERM.
//!
//! Prints `lambda-async listening on <base URL>` on stdout once it accepts connections; logs go to
//! stderr (`RUST_LOG` filters). The SQS client for the on-failure queue takes its endpoint,
//! region and credentials from the standard AWS environment (`AWS_ENDPOINT_URL_SQS` or
//! `AWS_ENDPOINT_URL` for moto).

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lambda_async::{AsyncConfig, FailureDestination, LambdaAsync};
use tracing_subscriber::EnvFilter;

/// Lambda's asynchronous invocation (202 at once, retries, on-failure SQS destination) in front
/// of a local Lambda Invoke API such as `cargo lambda watch`.
#[derive(Debug, Parser)]
#[command(name = "lambda-async", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "LAMBDA_ASYNC_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "LAMBDA_ASYNC_PORT", default_value_t = 9001)]
    port: u16,
    /// Base URL of the Invoke API that runs the functions (`cargo lambda watch`).
    #[arg(long, env = "LAMBDA_ASYNC_FUNCTION_ENDPOINT")]
    function_endpoint: String,
    /// A function the emulator accepts invokes for (repeatable); without any, every name.
    #[arg(
        long = "function",
        env = "LAMBDA_ASYNC_FUNCTIONS",
        value_delimiter = ','
    )]
    functions: Vec<String>,
    /// URL of the SQS queue that receives records of failed events; without it they are only
    /// logged.
    #[arg(long, env = "LAMBDA_ASYNC_ON_FAILURE_QUEUE_URL")]
    on_failure_queue_url: Option<String>,
    /// Retries of a failed event (Lambda's MaximumRetryAttempts, 0-2).
    #[arg(long, env = "LAMBDA_ASYNC_MAX_RETRY_ATTEMPTS", default_value_t = 2)]
    max_retry_attempts: u32,
    /// Wait before the first retry, in milliseconds; the n-th retry waits n times as long.
    #[arg(long, env = "LAMBDA_ASYNC_RETRY_DELAY_MS", default_value_t = 1000)]
    retry_delay_ms: u64,
    /// Maximum event age in seconds (Lambda's MaximumEventAgeInSeconds, 60-21600).
    #[arg(long, env = "LAMBDA_ASYNC_MAX_EVENT_AGE_SECS", default_value_t = 3600)]
    max_event_age_secs: u64,
    /// Function timeout in seconds.
    #[arg(long, env = "LAMBDA_ASYNC_FUNCTION_TIMEOUT_SECS", default_value_t = 60)]
    function_timeout_secs: u64,
    /// Events run at once; match `cargo lambda watch --concurrency`.
    #[arg(long, env = "LAMBDA_ASYNC_MAX_CONCURRENCY", default_value_t = 1)]
    max_concurrency: usize,
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
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

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let destination = match cli.on_failure_queue_url {
        Some(queue_url) => {
            let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            FailureDestination::sqs(aws_sdk_sqs::Client::new(&sdk_config), queue_url)
        }
        None => FailureDestination::Discard,
    };
    let config = AsyncConfig {
        listen: SocketAddr::new(cli.host, cli.port),
        functions: cli.functions,
        max_retry_attempts: cli.max_retry_attempts,
        retry_delay: Duration::from_millis(cli.retry_delay_ms),
        max_event_age: Duration::from_secs(cli.max_event_age_secs),
        function_timeout: Duration::from_secs(cli.function_timeout_secs),
        max_concurrency: cli.max_concurrency,
        ..AsyncConfig::new(cli.function_endpoint)
    };
    let emulator = match LambdaAsync::start(config, destination).await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("lambda-async: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("lambda-async listening on {}", emulator.endpoint_url());
    stop_signal().await;
    let stats = emulator.stats();
    tracing::info!(?stats, "lambda-async stopping");
    ExitCode::SUCCESS
}
