//! [`MotoServer`]: a local AWS emulator (moto) for one test.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use crate::{ChildProcess, StartError, aws_env, aws_sdk_config, find_tool, free_port};

/// How long moto gets to start answering (about 1.5 s on an idle machine; builds compete for
/// the CPU while tests run).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times a start is tried when the process exits early (e.g. another process took the
/// free port first).
const START_ATTEMPTS: usize = 3;

/// A `moto_server` on 127.0.0.1 at a free port, stopped when dropped.
///
/// The binary is `$MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`, else `moto_server`
/// on `PATH`.
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
        let mut attempt = 1;
        loop {
            let port = free_port();
            let mut command = Command::new(&binary);
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            let mut process = ChildProcess::spawn("moto_server", command)
                .unwrap_or_else(|error| panic!("{error} (binary: {})", binary.display()));
            let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match process.wait_until_listening(address, READY_TIMEOUT).await {
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
