//! `approvalctl redrive` end to end: the binary against moto's SQS (the failure queue, holding
//! Lambda's on-failure records as `lambda-async` writes them) and a stand-in for Lambda's Invoke
//! API (wiremock) that succeeds or fails each job by its instance id.

use std::process::Stdio;

use lambda_async::{FailureCondition, InvocationRecord, RequestContext, ResponseContext};
use serde_json::{Value, json};
use testkit::MotoServer;
use tokio::process::Command;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FUNCTION: &str = "approval-sync";
const INVOKE_PATH: &str = "/2015-03-31/functions/approval-sync/invocations";

/// What a run of the binary produced.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The failure queue in moto and the Invoke stand-in.
struct Harness {
    _moto: MotoServer,
    moto_url: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    lambda: MockServer,
}

impl Harness {
    async fn start() -> Self {
        let moto = MotoServer::start().await;
        let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
        let queue_url = sqs
            .create_queue()
            .queue_name("sync-failures")
            .send()
            .await
            .expect("queue created")
            .queue_url
            .expect("queue url");
        let lambda = MockServer::start().await;
        Self {
            moto_url: moto.endpoint_url(),
            _moto: moto,
            sqs,
            queue_url,
            lambda,
        }
    }

    async fn send(&self, body: String) {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("message sent");
    }

    /// Every message body in the queue, sorted; the messages are visible again afterwards.
    async fn bodies(&self) -> Vec<String> {
        let mut bodies = Vec::new();
        let mut receipts = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("received");
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                bodies.push(message.body.unwrap_or_default());
                receipts.push(message.receipt_handle.unwrap_or_default());
            }
            assert!(bodies.len() <= 100, "the queue does not drain");
        }
        for receipt in receipts {
            self.sqs
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .expect("released");
        }
        bodies.sort();
        bodies
    }

    /// Runs `approvalctl redrive` with `args`, the queue and the Invoke stand-in.
    async fn redrive(&self, args: &[&str]) -> Outcome {
        let output = Command::new(env!("CARGO_BIN_EXE_approvalctl"))
            .arg("redrive")
            .args(["--queue-url", &self.queue_url, "--function", FUNCTION])
            .args(args)
            .env_clear()
            .env("AWS_ENDPOINT_URL_SQS", &self.moto_url)
            .env("AWS_ENDPOINT_URL_LAMBDA", self.lambda.uri())
            .env("AWS_REGION", testkit::AWS_REGION)
            .env("AWS_ACCESS_KEY_ID", testkit::FAKE_AWS_CREDENTIAL)
            .env("AWS_SECRET_ACCESS_KEY", testkit::FAKE_AWS_CREDENTIAL)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .expect("approvalctl runs");
        Outcome {
            code: output.status.code().expect("exited with a code"),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }
}

/// A decision job on `instance_id`.
fn decision(instance_id: &str) -> Value {
    json!({
        "type": "decision",
        "approval_code": "C30381C8",
        "instance_id": instance_id,
        "task_id": "manager",
        "action": "APPROVE",
        "user_id": "u-1",
        "reason": "预算内，同意",
        "received_at": "1795312345678"
    })
}

/// Lambda's on-failure record of `job`, failed with `error`.
fn record(job: Value, condition: FailureCondition, error: Option<Value>) -> String {
    let record = InvocationRecord {
        version: "1.0".to_owned(),
        timestamp: "2026-11-30T12:00:00.000Z".to_owned(),
        request_context: RequestContext {
            request_id: "7b1c2d3e-0000-4000-8000-000000000001".to_owned(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:approval-sync:$LATEST"
                .to_owned(),
            condition,
            approximate_invoke_count: if error.is_some() { 3 } else { 0 },
        },
        request_payload: job,
        response_context: error.as_ref().map(|_| ResponseContext {
            status_code: 200,
            executed_version: "$LATEST".to_owned(),
            function_error: Some("Unhandled".to_owned()),
        }),
        response_payload: error,
    };
    serde_json::to_string(&record).unwrap()
}

fn feishu_rejected(code: i64, msg: &str, log_id: &str) -> Value {
    json!({
        "errorType": "FeishuRejected",
        "errorMessage": format!(
            "Feishu message/update for inst/manager failed: Feishu /open-apis/approval/v1/message/update failed with code {code} (\"{msg}\", HTTP 400), log_id {log_id}"
        )
    })
}

/// The stand-in answers a job on `instance_id` with success.
async fn succeeds(lambda: &MockServer, instance_id: &str) {
    Mock::given(method("POST"))
        .and(path(INVOKE_PATH))
        .and(header("x-amz-invocation-type", "RequestResponse"))
        .and(body_string_contains(format!(
            "\"instance_id\":\"{instance_id}\""
        )))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"job": "decision", "instance_id": instance_id})),
        )
        .mount(lambda)
        .await;
}

/// The stand-in answers a job on `instance_id` with a function error, as Lambda does.
async fn fails_again(lambda: &MockServer, instance_id: &str, error: Value) {
    Mock::given(method("POST"))
        .and(path(INVOKE_PATH))
        .and(body_string_contains(format!(
            "\"instance_id\":\"{instance_id}\""
        )))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Amz-Function-Error", "Unhandled")
                .set_body_json(error),
        )
        .mount(lambda)
        .await;
}

/// The jobs the stand-in was invoked with.
async fn invoked_jobs(lambda: &MockServer) -> Vec<Value> {
    lambda
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).expect("a JSON job"))
        .collect()
}

#[tokio::test]
async fn dry_run_lists_every_job_with_its_reason_and_changes_nothing() {
    let harness = Harness::start().await;
    harness
        .send(record(
            decision("inst-quota"),
            FailureCondition::RetriesExhausted,
            Some(feishu_rejected(99991403, "quota exceeded", "LOG-1")),
        ))
        .await;
    harness
        .send(record(
            decision("inst-old"),
            FailureCondition::EventAgeExceeded,
            None,
        ))
        .await;
    let before = harness.bodies().await;

    let outcome = harness.redrive(&["--dry-run"]).await;

    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .contains("decision APPROVE on inst-quota/manager — RetriesExhausted after 3 run(s)"),
        "{outcome:?}"
    );
    assert!(
        outcome.stdout.contains(
            "reason: FeishuRejected (Feishu code 99991403, msg \"quota exceeded\", log_id LOG-1)"
        ),
        "{outcome:?}"
    );
    assert!(
        outcome
            .stdout
            .contains("decision APPROVE on inst-old/manager — EventAgeExceeded"),
        "{outcome:?}"
    );
    assert!(
        outcome.stdout.contains("2 job(s) in the failure queue"),
        "{outcome:?}"
    );
    assert!(
        invoked_jobs(&harness.lambda).await.is_empty(),
        "nothing invoked"
    );
    assert_eq!(
        harness.bodies().await,
        before,
        "every message is still there, visible"
    );
}

#[tokio::test]
async fn redrive_deletes_the_jobs_that_succeed_and_keeps_the_rest_with_their_new_reason() {
    let harness = Harness::start().await;
    let broken = record(
        decision("inst-broken"),
        FailureCondition::RetriesExhausted,
        Some(feishu_rejected(
            99991400,
            "request trigger frequency limit",
            "LOG-OLD",
        )),
    );
    let not_a_record = "{\"hello\":\"world\"}".to_owned();
    harness
        .send(record(
            decision("inst-ok-1"),
            FailureCondition::RetriesExhausted,
            Some(feishu_rejected(
                99991400,
                "request trigger frequency limit",
                "LOG-2",
            )),
        ))
        .await;
    harness.send(broken.clone()).await;
    harness
        .send(record(
            decision("inst-ok-2"),
            FailureCondition::EventAgeExceeded,
            None,
        ))
        .await;
    harness.send(not_a_record.clone()).await;
    succeeds(&harness.lambda, "inst-ok-1").await;
    succeeds(&harness.lambda, "inst-ok-2").await;
    fails_again(
        &harness.lambda,
        "inst-broken",
        feishu_rejected(60001, "actionUrls incomplete error", "LOG-NEW"),
    )
    .await;

    let outcome = harness.redrive(&[]).await;

    assert_eq!(outcome.code, 1, "a job stayed: {outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("2 job(s) stayed in the failure queue"),
        "{outcome:?}"
    );
    assert!(
        outcome.stdout.contains(
            "stays: failed again: FeishuRejected (Feishu code 60001, msg \"actionUrls incomplete error\", log_id LOG-NEW)"
        ),
        "the new reason is printed: {outcome:?}"
    );
    assert!(
        outcome
            .stdout
            .contains("stays: not a Lambda failure record"),
        "{outcome:?}"
    );
    assert_eq!(
        outcome
            .stdout
            .matches("redriven: succeeded, deleted from the queue")
            .count(),
        2,
        "{outcome:?}"
    );
    assert!(
        outcome.stdout.contains("2 redriven and deleted, 2 stayed"),
        "{outcome:?}"
    );

    let mut invoked: Vec<String> = invoked_jobs(&harness.lambda)
        .await
        .iter()
        .map(|job| {
            assert_eq!(
                job["type"], "decision",
                "the job is re-sent as it was: {job}"
            );
            assert_eq!(job["reason"], "预算内，同意");
            job["instance_id"].as_str().unwrap().to_owned()
        })
        .collect();
    invoked.sort();
    assert_eq!(invoked, ["inst-broken", "inst-ok-1", "inst-ok-2"]);

    let mut expected = vec![broken, not_a_record];
    expected.sort();
    assert_eq!(
        harness.bodies().await,
        expected,
        "only what failed stays, visible again"
    );
}

#[tokio::test]
async fn an_unreachable_lambda_endpoint_keeps_every_job() {
    let harness = Harness::start().await;
    harness
        .send(record(
            decision("inst-1"),
            FailureCondition::RetriesExhausted,
            None,
        ))
        .await;
    let before = harness.bodies().await;
    // Nothing mounted: the stand-in answers 404, which the SDK reports as an invoke failure.
    let outcome = harness.redrive(&[]).await;
    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .contains("stays: failed again: invoking `approval-sync` failed"),
        "{outcome:?}"
    );
    assert_eq!(harness.bodies().await, before);
}
