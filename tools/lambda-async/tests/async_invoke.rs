//! The emulator against a scripted function runner that answers as `cargo lambda watch` does
//! (a function error is HTTP 500 with the runtime's error object), invoked through
//! aws-sdk-lambda as the callback function invokes the sync function.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use lambda_async::{
    AsyncConfig, FailureCondition, FailureDestination, InvocationRecord, LambdaAsync,
};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Generous bound for background work that normally takes milliseconds.
const SETTLE: Duration = Duration::from_secs(20);

/// What the scripted runner does with one invocation.
#[derive(Debug, Clone)]
enum Behaviour {
    /// Answer 200 with this result.
    Succeed(Value),
    /// Answer 500 with a runtime error object of this type.
    Fail(&'static str),
    /// Wait for the notification, then succeed.
    WaitFor(Arc<Notify>),
    /// Never answer.
    Hang,
}

/// One invocation as the runner saw it.
#[derive(Debug, Clone)]
struct Seen {
    function: String,
    payload: Value,
}

#[derive(Debug, Default)]
struct Script {
    /// Behaviours for the next invocations, in order; afterwards `fallback`.
    queue: Mutex<VecDeque<Behaviour>>,
    fallback: Mutex<Option<Behaviour>>,
    seen: Mutex<Vec<Seen>>,
}

impl Script {
    fn then(&self, behaviour: Behaviour) -> &Self {
        self.queue.lock().unwrap().push_back(behaviour);
        self
    }

    fn always(&self, behaviour: Behaviour) {
        *self.fallback.lock().unwrap() = Some(behaviour);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A runner on `address` that follows `script`.
async fn start_runner(address: SocketAddr, script: Arc<Script>) -> tokio::task::JoinHandle<()> {
    async fn invocation(
        State(script): State<Arc<Script>>,
        Path(function): Path<String>,
        body: Bytes,
    ) -> (StatusCode, String) {
        script.seen.lock().unwrap().push(Seen {
            function,
            payload: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        let next = script.queue.lock().unwrap().pop_front();
        let behaviour = next
            .or_else(|| script.fallback.lock().unwrap().clone())
            .unwrap_or(Behaviour::Succeed(json!({"ok": true})));
        match behaviour {
            Behaviour::Succeed(result) => (StatusCode::OK, result.to_string()),
            Behaviour::Fail(error_type) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"errorType": error_type, "errorMessage": "it failed"}).to_string(),
            ),
            Behaviour::WaitFor(notify) => {
                notify.notified().await;
                (StatusCode::OK, json!({"ok": true}).to_string())
            }
            Behaviour::Hang => std::future::pending().await,
        }
    }
    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{function}/invocations",
            post(invocation),
        )
        .with_state(script);
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

/// A scripted runner on a free port, and its base URL.
async fn runner() -> (Arc<Script>, String, tokio::task::JoinHandle<()>) {
    let script = Arc::new(Script::default());
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, testkit::free_port()));
    let task = start_runner(address, Arc::clone(&script)).await;
    (script, format!("http://{address}"), task)
}

fn fast_config(function_endpoint: &str) -> AsyncConfig {
    AsyncConfig {
        retry_delay: Duration::from_millis(10),
        ..AsyncConfig::new(function_endpoint)
    }
}

async fn lambda_client(emulator: &LambdaAsync) -> aws_sdk_lambda::Client {
    let sdk_config = testkit::aws_sdk_config(&emulator.endpoint_url()).await;
    aws_sdk_lambda::Client::new(&sdk_config)
}

async fn invoke_event(client: &aws_sdk_lambda::Client, payload: &Value) -> (i32, String) {
    let output = client
        .invoke()
        .function_name("approval-sync")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .expect("the Event invoke is accepted");
    let request_id = output.request_id().expect("a request id").to_owned();
    (output.status_code(), request_id)
}

/// A moto SQS queue, and a client for it.
async fn failure_queue(moto: &testkit::MotoServer) -> (aws_sdk_sqs::Client, String) {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let queue_url = sqs
        .create_queue()
        .queue_name("sync-failures")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (sqs, queue_url)
}

async fn records(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<InvocationRecord> {
    let messages = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    messages
        .iter()
        .map(|message| serde_json::from_str(message.body().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn an_event_is_accepted_with_202_before_the_function_finishes() {
    let (script, endpoint, _runner) = runner().await;
    let release = Arc::new(Notify::new());
    script.then(Behaviour::WaitFor(Arc::clone(&release)));
    let emulator = LambdaAsync::start(fast_config(&endpoint), FailureDestination::Discard)
        .await
        .unwrap();
    let client = lambda_client(&emulator).await;

    let payload = json!({"type": "decision", "task_id": "t1"});
    // The function is blocked until released: only an asynchronous answer can arrive here.
    let (status, _) = tokio::time::timeout(SETTLE, invoke_event(&client, &payload))
        .await
        .expect("the invoke is answered while the function still runs");
    assert_eq!(status, 202);
    assert_eq!(emulator.stats().pending, 1);

    release.notify_one();
    let stats = emulator.wait_until_idle(SETTLE).await;
    assert_eq!((stats.accepted, stats.succeeded, stats.failed), (1, 1, 0));
    let seen = script.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].function, "approval-sync");
    assert_eq!(seen[0].payload, payload);
}

#[tokio::test]
async fn a_failing_event_is_retried_twice_then_recorded_in_the_failure_queue() {
    let moto = testkit::MotoServer::start().await;
    let (sqs, queue_url) = failure_queue(&moto).await;
    let (script, endpoint, _runner) = runner().await;
    script.always(Behaviour::Fail("FeishuUnavailable"));
    let emulator = LambdaAsync::start(
        fast_config(&endpoint),
        FailureDestination::sqs(sqs.clone(), &queue_url),
    )
    .await
    .unwrap();
    let client = lambda_client(&emulator).await;

    let payload = json!({"type": "decision", "task_id": "t2"});
    let (status, request_id) = invoke_event(&client, &payload).await;
    assert_eq!(status, 202);
    let stats = emulator.wait_until_idle(SETTLE).await;
    assert_eq!(
        (
            stats.runs,
            stats.function_errors,
            stats.failed,
            stats.destination_errors
        ),
        (3, 3, 1, 0)
    );

    let seen = script.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|run| run.payload == payload));

    let records = records(&sqs, &queue_url).await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.version, "1.0");
    assert_eq!(record.request_context.request_id, request_id);
    assert_eq!(
        record.request_context.function_arn,
        "arn:aws:lambda:us-east-1:123456789012:function:approval-sync:$LATEST"
    );
    assert_eq!(
        record.request_context.condition,
        FailureCondition::RetriesExhausted
    );
    assert_eq!(record.request_context.approximate_invoke_count, 3);
    assert_eq!(record.request_payload, payload);
    let response = record.response_context.as_ref().unwrap();
    assert_eq!(response.status_code, 200);
    assert_eq!(response.executed_version, "$LATEST");
    assert_eq!(response.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        record.response_payload,
        Some(json!({"errorType": "FeishuUnavailable", "errorMessage": "it failed"}))
    );
}

#[tokio::test]
async fn an_event_that_succeeds_on_a_retry_is_not_recorded() {
    let moto = testkit::MotoServer::start().await;
    let (sqs, queue_url) = failure_queue(&moto).await;
    let (script, endpoint, _runner) = runner().await;
    script.then(Behaviour::Fail("Throttled"));
    let emulator = LambdaAsync::start(
        fast_config(&endpoint),
        FailureDestination::sqs(sqs.clone(), &queue_url),
    )
    .await
    .unwrap();
    let client = lambda_client(&emulator).await;

    invoke_event(&client, &json!({"type": "decision"})).await;
    let stats = emulator.wait_until_idle(SETTLE).await;
    assert_eq!((stats.runs, stats.succeeded, stats.failed), (2, 1, 0));
    assert!(records(&sqs, &queue_url).await.is_empty());
}

#[tokio::test]
async fn retries_follow_the_configured_maximum() {
    let (script, endpoint, _runner) = runner().await;
    script.always(Behaviour::Fail("Broken"));
    let config = AsyncConfig {
        max_retry_attempts: 0,
        ..fast_config(&endpoint)
    };
    let emulator = LambdaAsync::start(config, FailureDestination::Discard)
        .await
        .unwrap();
    let client = lambda_client(&emulator).await;

    invoke_event(&client, &json!({})).await;
    let stats = emulator.wait_until_idle(SETTLE).await;
    assert_eq!((stats.runs, stats.failed), (1, 1));
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test]
async fn a_timed_out_run_counts_as_a_function_error() {
    let moto = testkit::MotoServer::start().await;
    let (sqs, queue_url) = failure_queue(&moto).await;
    let (script, endpoint, _runner) = runner().await;
    script.always(Behaviour::Hang);
    let config = AsyncConfig {
        max_retry_attempts: 1,
        function_timeout: Duration::from_millis(300),
        ..fast_config(&endpoint)
    };
    let emulator = LambdaAsync::start(config, FailureDestination::sqs(sqs.clone(), &queue_url))
        .await
        .unwrap();
    let client = lambda_client(&emulator).await;

    invoke_event(&client, &json!({"type": "message"})).await;
    let stats = emulator.wait_until_idle(SETTLE).await;
    assert_eq!((stats.runs, stats.function_errors, stats.failed), (2, 2, 1));
    let records = records(&sqs, &queue_url).await;
    assert_eq!(records.len(), 1);
    let error = records[0].response_payload.as_ref().unwrap();
    assert_eq!(error["errorType"], "Sandbox.Timedout");
}

#[tokio::test]
async fn an_unreachable_runner_delays_an_event_without_using_up_its_retries() {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, testkit::free_port()));
    let emulator = LambdaAsync::start(
        AsyncConfig {
            max_retry_attempts: 0,
            ..fast_config(&format!("http://{address}"))
        },
        FailureDestination::Discard,
    )
    .await
    .unwrap();
    let client = lambda_client(&emulator).await;

    invoke_event(&client, &json!({"type": "decision"})).await;
    // Nothing listens yet: the event waits (no run, no failure) instead of being given up.
    assert_eq!(
        emulator
            .wait_until_idle(Duration::from_millis(300))
            .await
            .pending,
        1
    );
    let script = Arc::new(Script::default());
    let _runner = start_runner(address, Arc::clone(&script)).await;

    let stats = emulator.wait_until_idle(SETTLE).await;
    assert_eq!((stats.runs, stats.succeeded, stats.failed), (1, 1, 0));
}

#[tokio::test]
async fn synchronous_invocations_answer_as_lambda_does() {
    let (script, endpoint, _runner) = runner().await;
    script
        .then(Behaviour::Succeed(json!({"kind": "message", "calls": 1})))
        .then(Behaviour::Fail("InvalidJob"));
    let config = AsyncConfig {
        functions: vec!["approval-sync".to_owned()],
        ..fast_config(&endpoint)
    };
    let emulator = LambdaAsync::start(config, FailureDestination::Discard)
        .await
        .unwrap();
    let client = lambda_client(&emulator).await;
    let invoke = |function: &str, payload: &str| {
        client
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload.as_bytes().to_vec()))
            .send()
    };

    let ok = invoke("approval-sync", "{}").await.unwrap();
    assert_eq!(ok.status_code(), 200);
    assert_eq!(ok.function_error(), None);
    assert_eq!(ok.executed_version(), Some("$LATEST"));
    let result: Value = serde_json::from_slice(ok.payload().unwrap().as_ref()).unwrap();
    assert_eq!(result, json!({"kind": "message", "calls": 1}));

    // A function error is a 200 with X-Amz-Function-Error, not an API error.
    let failed = invoke(
        "arn:aws:lambda:us-east-1:123456789012:function:approval-sync",
        "{}",
    )
    .await
    .unwrap();
    assert_eq!(failed.status_code(), 200);
    assert_eq!(failed.function_error(), Some("Unhandled"));
    let error: Value = serde_json::from_slice(failed.payload().unwrap().as_ref()).unwrap();
    assert_eq!(error["errorType"], "InvalidJob");

    let dry_run = client
        .invoke()
        .function_name("approval-sync")
        .invocation_type(InvocationType::DryRun)
        .send()
        .await
        .unwrap();
    assert_eq!(dry_run.status_code(), 204);

    let missing = invoke("approval-other", "{}").await.unwrap_err();
    assert!(
        missing
            .into_service_error()
            .is_resource_not_found_exception()
    );
    let not_json = invoke("approval-sync", "{oops").await.unwrap_err();
    assert!(
        not_json
            .into_service_error()
            .is_invalid_request_content_exception()
    );
    // Neither refused invoke reached the runner; the DryRun did not either.
    assert_eq!(script.seen().len(), 2);
    assert_eq!(emulator.stats().accepted, 0);
}

#[tokio::test]
async fn an_oversized_event_is_refused() {
    let (script, endpoint, _runner) = runner().await;
    let emulator = LambdaAsync::start(fast_config(&endpoint), FailureDestination::Discard)
        .await
        .unwrap();
    let client = lambda_client(&emulator).await;
    let big = json!({"blob": "x".repeat(1024 * 1024)});

    let refused = client
        .invoke()
        .function_name("approval-sync")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(big.to_string()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.raw_response().map(|raw| raw.status().as_u16()),
        Some(413)
    );
    assert_eq!(emulator.stats().accepted, 0);
    assert!(script.seen().is_empty());
}
