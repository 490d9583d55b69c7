//! Process harnesses for integration tests.
//!
//! Each harness ([`MotoServer`], [`LambdaWatch`]) is a value that starts an external process on a
//! local port, waits until it answers, and stops it when dropped. They share [`ChildProcess`], a guard
//! that makes sure no process outlives its test, and the helpers below for finding tools and
//! pointing the AWS SDK (or a child process) at a local endpoint with fake credentials.
//! [`CapturedLogs`] collects what a `tracing` subscriber writes, for tests that check log lines;
//! [`check_emf_document`] checks a metrics document against the CloudWatch EMF specification;
//! [`sign_decision`] and [`sign_job`] prove decision jobs as the callback function does.
//!
//! Tools come from the workspace's `.venv` (created by `scripts/setup`) unless an environment
//! variable names them.

mod emf;
mod handoff;
mod logs;
mod moto;
mod process;
mod watch;

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};

pub use emf::check_emf_document;
pub use handoff::{sign_decision, sign_job};
pub use logs::CapturedLogs;
pub use moto::MotoServer;
pub use process::{ChildProcess, StartError};
pub use watch::{LambdaWatch, WatchConfig, binary_path, build_binaries};

/// The fake access key id and secret access key used against local AWS emulators.
pub const FAKE_AWS_CREDENTIAL: &str = "testing";

/// The region every local AWS endpoint is addressed with.
pub const AWS_REGION: &str = "us-east-1";

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// # Panics
/// If no local port can be bound at all.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("cannot bind a local TCP port: {error}"))
}

/// The workspace's root directory (the one holding `Cargo.lock` and `.venv`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// Finds the executable `name`: the path in environment variable `env_var` if set, else
/// `<workspace>/.venv/bin/<name>`, else the first `name` on `PATH`.
pub fn find_tool(env_var: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env_var).filter(|path| !path.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let in_venv = workspace_root().join(".venv").join("bin").join(name);
    if in_venv.is_file() {
        return Some(in_venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// An AWS SDK configuration that sends every service to `endpoint_url` with fake credentials
/// and region `us-east-1`. Credentials and region are explicit, so the SDK never asks the
/// instance metadata service (169.254.169.254).
pub async fn aws_sdk_config(endpoint_url: &str) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::new(
        FAKE_AWS_CREDENTIAL,
        FAKE_AWS_CREDENTIAL,
        None,
        None,
        "testkit",
    );
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(AWS_REGION))
        .credentials_provider(credentials)
        .endpoint_url(endpoint_url)
        .load()
        .await
}

/// Environment variables that point a child process's AWS SDK at `endpoint_url` with fake
/// credentials, region `us-east-1`, and the instance metadata service disabled.
pub fn aws_env(endpoint_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint_url.to_owned()),
        ("AWS_REGION", AWS_REGION.to_owned()),
        ("AWS_DEFAULT_REGION", AWS_REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", FAKE_AWS_CREDENTIAL.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", FAKE_AWS_CREDENTIAL.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}
