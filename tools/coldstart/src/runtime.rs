//! One cold start: a fresh fake Lambda Runtime API, the bootstrap spawned against it, its init
//! timed up to its first `GET /next`, one event delivered (after a pause with the process stopped,
//! if asked: Lambda may init a container well before its first event and freezes it meanwhile),
//! its answer timed, its peak RSS read, and the process killed.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{Mutex, mpsc, oneshot};

/// How long a bootstrap may take to init, and then to answer, before the run fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// The request id of the one event of a run.
const REQUEST_ID: &str = "00000000-0000-4000-8000-00000000c01d";

/// What one cold start measured.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Spawn → the first `GET /next` (the end of init).
    pub init: Duration,
    /// The event handed over → its answer posted.
    pub first_answer: Duration,
    /// Spawn → the answer, without the pause.
    pub total: Duration,
    /// Peak resident set size (`VmHWM`), in KiB.
    pub peak_rss_kib: u64,
    /// The answer's body.
    pub answer: Bytes,
}

/// How a run went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The bootstrap could not be started.
    #[error("cannot start {0}: {1}")]
    Spawn(String, std::io::Error),
    /// The runtime API could not listen.
    #[error("fake runtime API: {0}")]
    Listen(std::io::Error),
    /// The bootstrap exited, reported an init or invocation error, or took too long.
    #[error("{0}")]
    Failed(String),
}

/// What the fake runtime API hands the orchestrator.
enum Call {
    /// A `GET /next`, waiting for its event.
    Next(oneshot::Sender<Bytes>),
    /// The answer to the event.
    Response(Bytes),
    /// `/error` or `/init/error`.
    Error(String),
}

#[derive(Clone)]
struct Api {
    calls: mpsc::UnboundedSender<Call>,
    /// Only the first `GET /next` gets an event; later ones wait until the process is killed.
    served: Arc<Mutex<bool>>,
}

/// Runs `bootstrap` once with `env` (to which the runtime API's address and Lambda's usual
/// variables are added), delivering `event`, pausing `pause` between init and the event with the
/// process stopped. The process's output goes to `log`.
pub async fn cold_start(
    bootstrap: &Path,
    env: &[(String, String)],
    event: &[u8],
    pause: Duration,
    log: &Path,
) -> Result<Measurement, RunError> {
    let (calls, mut received) = mpsc::unbounded_channel();
    let api = Api {
        calls,
        served: Arc::new(Mutex::new(false)),
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(api);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(RunError::Listen)?;
    let address = listener.local_addr().map_err(RunError::Listen)?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let output = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|error| RunError::Spawn(log.display().to_string(), error))?;
    let mut command = Command::new(bootstrap);
    command
        .env_clear()
        .envs(env.iter().map(|(key, value)| (key, value)))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "coldstart")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/coldstart")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart")
        .stdin(Stdio::null())
        .stdout(
            output
                .try_clone()
                .map_err(|error| RunError::Spawn(log.display().to_string(), error))?,
        )
        .stderr(output)
        .kill_on_drop(true);
    let spawned = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|error| RunError::Spawn(bootstrap.display().to_string(), error))?;
    let pid = child.id().unwrap_or_default();

    let result = async {
        let deliver = match next_call(&mut received, &mut child).await? {
            Call::Next(deliver) => deliver,
            Call::Response(_) => return Err(RunError::Failed("answer before any event".into())),
            Call::Error(error) => return Err(RunError::Failed(format!("init error: {error}"))),
        };
        let init = spawned.elapsed();
        if !pause.is_zero() {
            signal(pid, libc::SIGSTOP);
            tokio::time::sleep(pause).await;
            signal(pid, libc::SIGCONT);
        }
        let delivered = Instant::now();
        let _ = deliver.send(Bytes::copy_from_slice(event));
        let answer = match next_call(&mut received, &mut child).await? {
            Call::Response(answer) => answer,
            Call::Next(_) => return Err(RunError::Failed("no answer to the event".into())),
            Call::Error(error) => {
                return Err(RunError::Failed(format!("invocation error: {error}")));
            }
        };
        let first_answer = delivered.elapsed();
        let peak_rss_kib = peak_rss_kib(pid).unwrap_or_default();
        Ok(Measurement {
            init,
            first_answer,
            total: init + first_answer,
            peak_rss_kib,
            answer,
        })
    }
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    server.abort();
    result
}

/// The next call to the fake runtime API, unless the process exits or takes too long.
async fn next_call(
    received: &mut mpsc::UnboundedReceiver<Call>,
    child: &mut tokio::process::Child,
) -> Result<Call, RunError> {
    tokio::select! {
        call = received.recv() => call.ok_or_else(|| RunError::Failed("runtime API stopped".into())),
        status = child.wait() => Err(RunError::Failed(format!("the bootstrap exited: {status:?}"))),
        () = tokio::time::sleep(STEP_TIMEOUT) => Err(RunError::Failed("timed out".into())),
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) on the child this run spawned and has not reaped yet.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// `VmHWM` of `/proc/<pid>/status`, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn next(State(api): State<Api>) -> Response {
    let mut served = api.served.lock().await;
    if *served {
        drop(served);
        std::future::pending::<()>().await;
        unreachable!("a pending future never completes");
    }
    *served = true;
    drop(served);
    let (deliver, event) = oneshot::channel();
    if api.calls.send(Call::Next(deliver)).is_err() {
        return StatusCode::GONE.into_response();
    }
    let Ok(event) = event.await else {
        std::future::pending::<()>().await;
        unreachable!("a pending future never completes");
    };
    let deadline_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 30_000;
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static(REQUEST_ID),
    );
    if let Ok(deadline) = HeaderValue::from_str(&deadline_ms.to_string()) {
        headers.insert("lambda-runtime-deadline-ms", deadline);
    }
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:coldstart"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000;Sampled=0"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (headers, event).into_response()
}

async fn response(State(api): State<Api>, body: Bytes) -> StatusCode {
    let _ = api.calls.send(Call::Response(body));
    StatusCode::ACCEPTED
}

async fn error(State(api): State<Api>, body: Bytes) -> StatusCode {
    let _ = api
        .calls
        .send(Call::Error(String::from_utf8_lossy(&body).into_owned()));
    StatusCode::ACCEPTED
}
