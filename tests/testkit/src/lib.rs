//! Process harnesses for integration tests.
//!
//! Each harness ([`MotoServer`], [`LambdaWatch`]) is a value that starts an external process on a
//! local port, waits until it answers, and stops it when dropped. They share [`ChildProcess`], a guard
//! that makes sure no process outlives its test, and helpers for finding tools and ports
//! ([`find_tool`], [`free_port`]) and for pointing the AWS SDK (or a child process) at a local
//! endpoint with fake credentials ([`aws_sdk_config`], [`aws_env`]).
//! [`MotoPrincipal`]s are IAM identities in moto with credentials of their own (moto's SQS
//! reports each message's `SenderId` by its sender). [`CapturedLogs`] collects what a `tracing`
//! subscriber writes, for tests that check log lines; [`check_emf_document`] checks a metrics
//! document against the CloudWatch EMF specification; [`sign_decision`] and [`sign_job`] prove
//! decision jobs as the callback function does.
//!
//! Tools come from the workspace's `.venv` (created by `scripts/setup`) unless an environment
//! variable names them.

mod aws;
mod emf;
mod handoff;
mod locate;
mod logs;
mod moto;
mod principal;
mod process;
mod watch;

pub use aws::{AWS_REGION, FAKE_AWS_CREDENTIAL, aws_env, aws_sdk_config};
pub use emf::check_emf_document;
pub use handoff::{sign_decision, sign_job};
pub use locate::{find_tool, free_port, workspace_root};
pub use logs::CapturedLogs;
pub use moto::MotoServer;
pub use principal::{MOTO_ACCOUNT, MotoPrincipal};
pub use process::{ChildProcess, StartError};
pub use watch::{LambdaWatch, WatchConfig, binary_path, build_binaries};
