//! [`MotoServer`]: a local AWS emulator (moto) for one test.
//!
//! moto's DynamoDB is not atomic under concurrent requests: its threaded server checks a write's
//! condition and stores the item in two unlocked steps, so two conditional writes can both pass
//! one condition (`moto_server.py` explains). The server is therefore started through that
//! script, which runs `moto_server`'s own `main` with DynamoDB requests handled one at a time.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{ChildProcess, StartError, aws_env, aws_sdk_config, find_tool, free_port};

/// Runs moto's server `main` with DynamoDB requests serialised.
const LAUNCHER: &str = include_str!("moto_server.py");

/// How long moto gets to start answering (about 1.5 s on an idle machine; builds compete for
/// the CPU while tests run).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times a start is tried when the process exits early (e.g. another process took the
/// free port first).
const START_ATTEMPTS: usize = 3;

/// A `moto_server` on 127.0.0.1 at a free port, stopped when dropped. Its DynamoDB applies
/// each request atomically, as DynamoDB does (see the module documentation).
///
/// The script is `$MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`, else `moto_server`
/// on `PATH`; it is run by the Python interpreter its `#!` line names.
#[derive(Debug)]
pub struct MotoServer {
    port: u16,
    // Held for its Drop, which stops the server.
    _process: ChildProcess,
}

impl MotoServer {
    /// Starts a server and waits until it accepts connections.
    ///
    /// # Panics
    /// If `moto_server` cannot be found (run `scripts/setup`), or does not start.
    pub async fn start() -> Self {
        let Some(binary) = find_tool("MOTO_SERVER", "moto_server") else {
            panic!(
                "moto_server not found: run `scripts/setup` (installs it into .venv), \
                 or set MOTO_SERVER to its path"
            );
        };
        let interpreter = interpreter_of(&binary).unwrap_or_else(|error| {
            panic!(
                "cannot tell which Python runs {}: {error}",
                binary.display()
            )
        });
        let mut attempt = 1;
        loop {
            let port = free_port();
            let mut command = Command::new(&interpreter[0]);
            command.args(&interpreter[1..]).args([
                "-c",
                LAUNCHER,
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ]);
            let mut process = ChildProcess::spawn("moto_server", command)
                .unwrap_or_else(|error| panic!("{error} (script: {})", binary.display()));
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let ready = match process.wait_until_listening(address, READY_TIMEOUT).await {
                // Something listens on the port; make sure it is this server and not a process
                // that took the port between `free_port` and moto's bind.
                Ok(()) => wait_until_bound(&mut process, port).await,
                Err(error) => Err(error),
            };
            match ready {
                Ok(()) => {
                    return Self {
                        port,
                        _process: process,
                    };
                }
                Err(StartError::Exited { .. }) if attempt < START_ATTEMPTS => attempt += 1,
                Err(error) => panic!("{error}"),
            }
        }
    }

    /// The server's base URL, e.g. `http://127.0.0.1:45123`.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An AWS SDK configuration aimed at this server (see [`aws_sdk_config`]).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_sdk_config(&self.endpoint_url()).await
    }

    /// Environment variables that aim a child process's AWS SDK at this server (see [`aws_env`]).
    pub fn aws_env(&self) -> Vec<(&'static str, String)> {
        aws_env(&self.endpoint_url())
    }
}

/// The interpreter command (program and arguments) on the `#!` line of `script`.
fn interpreter_of(script: &Path) -> io::Result<Vec<PathBuf>> {
    let mut first_line = String::new();
    BufReader::new(File::open(script)?).read_line(&mut first_line)?;
    let words: Vec<PathBuf> = first_line
        .strip_prefix("#!")
        .map(|command| command.split_whitespace().map(PathBuf::from).collect())
        .unwrap_or_default();
    if words.is_empty() {
        return Err(io::Error::other("it has no #! line"));
    }
    Ok(words)
}

/// Waits until the server's log says it runs on `port` (werkzeug prints this once it has bound
/// the port), failing if the process exits first.
async fn wait_until_bound(process: &mut ChildProcess, port: u16) -> Result<(), StartError> {
    let running_on = format!("Running on http://127.0.0.1:{port}");
    let started = tokio::time::Instant::now();
    loop {
        if let Some(status) = process.exit_status() {
            return Err(StartError::Exited {
                name: "moto_server".to_owned(),
                status,
                log_tail: process.log_tail(),
            });
        }
        if std::fs::read_to_string(process.log_path()).is_ok_and(|log| log.contains(&running_on)) {
            return Ok(());
        }
        if started.elapsed() >= READY_TIMEOUT {
            return Err(StartError::TimedOut {
                name: "moto_server".to_owned(),
                waited: READY_TIMEOUT,
                log_tail: process.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
