//! `approvalctl`: the setup CLI for the steps of Feishu's third-party approval guide that are
//! otherwise done with curl — register the definition, encrypt / decrypt / send test callbacks,
//! push an instance through the sync function, send a test card, redrive the failure queue. See
//! README.md.
//!
//! Exit codes: 0 success, 1 failure, 2 usage error. Errors go to standard error; secrets never
//! appear in any output except the `decrypt --show-token` the user asks for.

mod card;
mod cipher;
mod cli;
mod error;
mod feishu;
mod inspect;
mod push;
mod redrive;
mod register;
mod send_callback;
#[cfg(test)]
mod test_support;

use std::process::ExitCode;

use cli::{Cli, Command};
use error::CliError;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse_or_exit();
    init_tracing();
    match run(&cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprint!("{}", error.report());
            error.exit_code()
        }
    }
}

/// Runs one subcommand.
async fn run(command: &Command) -> Result<(), CliError> {
    match command {
        Command::Register(args) => register::run(args).await,
        Command::Encrypt(args) => cipher::encrypt(args),
        Command::Decrypt(args) => cipher::decrypt(args),
        Command::SendCallback(args) => send_callback::run(args).await,
        Command::Push(args) => push::run(args).await,
        Command::Card(args) => card::run(args).await,
        Command::Redrive(args) => redrive::run(args).await,
        Command::Inspect(args) => inspect::run(args).await,
    }
}

/// Logs (Feishu retries, token refreshes) go to standard error when `RUST_LOG` asks for them.
fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
}
