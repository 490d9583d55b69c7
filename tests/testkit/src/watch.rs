//! [`LambdaWatch`]: `cargo lambda watch` serving the workspace's functions for one test, and
//! [`build_binaries`], which builds them first so that watch never compiles during a test.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::{ChildProcess, find_tool, workspace_root};

/// How long watch gets to start answering (about a second on an idle machine).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of a failed build's output goes into the panic message.
const BUILD_OUTPUT_TAIL: usize = 4000;

/// The workspace binaries built by this test process so far.
static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// What `cargo lambda watch` serves, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    /// The port to listen on (pick it with [`crate::free_port`] when other settings need the
    /// URL before watch starts, e.g. a callback URL).
    pub port: u16,
    /// The function binaries to serve; they are built before watch starts.
    pub functions: Vec<String>,
    /// Environment variables of watch and so of every function (on top of this process's).
    pub env: Vec<(String, String)>,
    /// Instances per function (`--concurrency`): how many invocations of one function run at once.
    pub concurrency: usize,
}

impl WatchConfig {
    /// Serves `functions` on `port`, one instance each, with no extra environment.
    pub fn new(port: u16, functions: &[&str]) -> Self {
        Self {
            port,
            functions: functions.iter().map(|name| (*name).to_owned()).collect(),
            env: Vec::new(),
            concurrency: 1,
        }
    }
}

/// `cargo lambda watch --ignore-changes -A 127.0.0.1 -P <port>` at the workspace root, stopped
/// (with every function process it started) when dropped.
///
/// Facts this harness relies on (cargo-lambda 1.9.2):
/// - watch starts a function on its first invoke with `cargo run --bin <function>` and the
///   environment of watch plus `AWS_LAMBDA_*`; [`build_binaries`] runs the same build first, so
///   that `cargo run` finds everything fresh (about 0.4 s to a warm function);
/// - without `--ignore-changes` watch rebuilds and restarts functions whenever any file under
///   the workspace changes, `.git` included;
/// - each function runs in its own process group, so they are stopped separately on drop;
/// - invokes run synchronously whatever `X-Amz-Invocation-Type` says, and a function error is
///   answered HTTP 500 with the runtime's error object (see the `lambda-async` tool).
#[derive(Debug)]
pub struct LambdaWatch {
    port: u16,
    process: Option<ChildProcess>,
}

impl LambdaWatch {
    /// Builds the functions, starts watch and waits until it accepts connections.
    ///
    /// # Panics
    /// If `cargo-lambda` cannot be found (run `scripts/setup`), a function does not build, or
    /// watch does not start.
    pub async fn start(config: WatchConfig) -> Self {
        let functions = config.functions.clone();
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = functions.iter().map(String::as_str).collect();
            build_binaries(&names);
        })
        .await
        .unwrap_or_else(|error| panic!("building the functions failed: {error}"));
        let Some(cargo_lambda) = find_tool("CARGO_LAMBDA", "cargo-lambda") else {
            panic!(
                "cargo-lambda not found: run `scripts/setup` (installs it into .venv), \
                 or set CARGO_LAMBDA to its path"
            );
        };
        let mut command = Command::new(&cargo_lambda);
        // The binary is a cargo subcommand: cargo passes the subcommand name first.
        command
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(config.port.to_string())
            .arg("--concurrency")
            .arg(config.concurrency.max(1).to_string())
            .current_dir(workspace_root())
            .env("CARGO", cargo())
            .envs(config.env.iter().map(|(key, value)| (key, value)));
        let mut process = ChildProcess::spawn("cargo-lambda-watch", command)
            .unwrap_or_else(|error| panic!("{error} (binary: {})", cargo_lambda.display()));
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
        if let Err(error) = process.wait_until_listening(address, READY_TIMEOUT).await {
            panic!("{error}");
        }
        Self {
            port: config.port,
            process: Some(process),
        }
    }

    /// Watch's base URL, e.g. `http://127.0.0.1:9000`: the Lambda Invoke API endpoint.
    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The function URL of HTTP function `function`: `<base>/lambda-url/<function>/`.
    pub fn function_url(&self, function: &str) -> String {
        format!("{}/lambda-url/{function}/", self.endpoint_url())
    }

    /// The Invoke API URL of `function`: `<base>/2015-03-31/functions/<function>/invocations`.
    pub fn invoke_url(&self, function: &str) -> String {
        format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.endpoint_url()
        )
    }

    /// The file receiving the output of watch and of the functions (their logs).
    pub fn log_path(&self) -> Option<&Path> {
        self.process.as_ref().map(ChildProcess::log_path)
    }

    /// Everything watch and the functions have written so far.
    pub fn log(&self) -> String {
        self.log_path()
            .and_then(|path| fs::read(path).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        let Some(process) = self.process.take() else {
            return;
        };
        // Functions run in process groups of their own: note them before watch goes away.
        let functions = descendants(process.id());
        // Stops watch (SIGTERM, which also stops its functions; SIGKILL after a grace period).
        drop(process);
        for (pid, group) in functions {
            if process_group(pid) == Some(group) {
                // SAFETY: killpg has no memory-safety preconditions; a vanished group yields ESRCH.
                unsafe {
                    libc::killpg(group, libc::SIGKILL);
                }
            }
        }
    }
}

/// The cargo that runs builds: the one running this test (`$CARGO`), else `cargo` on `PATH`.
fn cargo() -> OsString {
    std::env::var_os("CARGO")
        .filter(|cargo| !cargo.is_empty())
        .unwrap_or_else(|| OsString::from("cargo"))
}

/// Builds workspace binaries as `cargo lambda watch` builds a function (`cargo build
/// --manifest-path Cargo.toml --bin <name>…` at the workspace root, debug profile; `--bin` builds
/// at the root all share the whole workspace's feature resolution, so one build serves every
/// later `cargo run --bin`), each at most once per test process, and returns their paths. Run
/// from a test, this is a no-op when the binaries are fresh and takes minutes from a cold target
/// directory.
///
/// # Panics
/// If the build fails (the panic message ends with the build's output).
pub fn build_binaries(names: &[&str]) -> Vec<PathBuf> {
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    let built = built.get_or_insert_with(HashSet::new);
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| !built.contains(*name))
        .collect();
    if !missing.is_empty() {
        let mut command = Command::new(cargo());
        command
            .args(["build", "--manifest-path", "Cargo.toml"])
            .current_dir(workspace_root());
        for name in &missing {
            command.args(["--bin", name]);
        }
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("cannot run cargo to build {missing:?}: {error}"));
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail_start = stderr.len().saturating_sub(BUILD_OUTPUT_TAIL);
            let tail = stderr.get(tail_start..).unwrap_or(&stderr);
            panic!("building {missing:?} failed ({}):\n{tail}", output.status);
        }
        built.extend(missing.iter().map(|name| (*name).to_owned()));
    }
    names.iter().map(|name| binary_path(name)).collect()
}

/// Where the debug build of workspace binary `name` lands (`$CARGO_TARGET_DIR` or `target/`).
pub fn binary_path(name: &str) -> PathBuf {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target_dir.join("debug").join(name)
}

/// Every living descendant of process `root`, with its process group.
fn descendants(root: u32) -> Vec<(libc::pid_t, libc::pid_t)> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse().ok())
            else {
                continue;
            };
            if let Some((parent, _)) = stat_fields(pid) {
                children.entry(parent).or_default().push(pid);
            }
        }
    }
    let mut found = Vec::new();
    let mut pending = vec![root];
    while let Some(parent) = pending.pop() {
        for &child in children.get(&parent).map(Vec::as_slice).unwrap_or_default() {
            pending.push(child);
            if let (Ok(pid), Some(group)) = (libc::pid_t::try_from(child), process_group(child)) {
                found.push((pid, group));
            }
        }
    }
    found
}

/// The process group of a living (not zombie) process.
fn process_group(pid: impl TryInto<u32>) -> Option<libc::pid_t> {
    let pid = pid.try_into().ok()?;
    stat_fields(pid).map(|(_, group)| group)
}

/// The parent pid and process group of a living (not zombie) process, from `/proc/<pid>/stat`.
fn stat_fields(pid: u32) -> Option<(u32, libc::pid_t)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything; the fields follow the last `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let parent = fields.next()?.parse().ok()?;
    let group = fields.next()?.parse().ok()?;
    Some((parent, group))
}
