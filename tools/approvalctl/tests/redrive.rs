//! `approvalctl redrive` end to end: the binary against moto's SQS (the failure queue) and a
//! stand-in for Lambda's Invoke API (wiremock).
//!
//! Two principals write to the queue, each with credentials moto issued: a session of the sync
//! functions' role (as Lambda's on-failure destination writes records) and another IAM user
//! (planting records). moto, through testkit's `moto_server.py`, reports each message's
//! `SenderId` by the principal that sent it, as SQS does; what it cannot show is that real
//! Lambda destinations send with the execution role (AWS documents it; the template's queue
//! policy relies on it too), nor does moto enforce the queue policy that keeps the second
//! principal out in the first place.

use std::process::Stdio;

use testkit::{MotoPrincipal, MotoServer};
use tokio::process::Command;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FUNCTION: &str = "b-sync";
const INVOKE_PATH: &str = "/2015-03-31/functions/b-sync/invocations";

/// What a run of the binary produced.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// The failure queue in moto, the two principals writing to it, and the Invoke stand-in.
struct Harness {
    moto: MotoServer,
    /// The queue as the operator sees it.
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    /// The sync functions' role, as Lambda's on-failure destination uses it.
    sync_role: MotoPrincipal,
    destination: aws_sdk_sqs::Client,
    /// Someone else allowed sqs:SendMessage, and its SenderId.
    intruder: aws_sdk_sqs::Client,
    intruder_id: String,
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
        let sync_role = moto.role_session("bridge-SyncFunctionRole", FUNCTION).await;
        let intruder = moto.user("ci-deployer").await;
        let destination = aws_sdk_sqs::Client::new(&moto.sdk_config_as(&sync_role).await);
        let intruder_id = intruder.sender_id.clone();
        let intruder = aws_sdk_sqs::Client::new(&moto.sdk_config_as(&intruder).await);
        // Lambda answers an accepted asynchronous invoke with 202 and no body.
        let lambda = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(INVOKE_PATH))
            .and(header("x-amz-invocation-type", "Event"))
            .respond_with(ResponseTemplate::new(202))
            .mount(&lambda)
            .await;
        Self {
            moto,
            sqs,
            queue_url,
            sync_role,
            destination,
            intruder,
            intruder_id,
            lambda,
        }
    }

    async fn send(&self, as_client: &aws_sdk_sqs::Client, body: &str) {
        as_client
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

    /// Runs `approvalctl redrive` with `args`, as the operator (moto's default credentials),
    /// trusting the sync role.
    async fn redrive(&self, args: &[&str]) -> Outcome {
        let role_id = self.sync_role.unique_id.clone();
        self.run(&[&["--sync-role-id", role_id.as_str()], args].concat())
            .await
    }

    async fn run(&self, args: &[&str]) -> Outcome {
        let output = Command::new(env!("CARGO_BIN_EXE_approvalctl"))
            .arg("redrive")
            .args(["--queue-url", &self.queue_url, "--function", FUNCTION])
            .args(args)
            .env_clear()
            .envs(self.moto.aws_env())
            .env("AWS_ENDPOINT_URL_LAMBDA", self.lambda.uri())
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

    /// The payloads the stand-in was invoked with, as sent.
    async fn invoked(&self) -> Vec<String> {
        let mut jobs: Vec<String> = self
            .lambda
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|request| String::from_utf8(request.body.clone()).expect("UTF-8 payload"))
            .collect();
        jobs.sort();
        jobs
    }
}

/// A decision job on `instance_id`, as the callback writes one (with a proof), formatted the way
/// it was recorded: redrive must send exactly these bytes back.
fn decision(instance_id: &str) -> String {
    format!(
        r#"{{"type":"decision","approval_code":"C30381C8","instance_id":"{instance_id}","task_id":"manager","action":"APPROVE","user_id":"u-1","reason":"预算内，同意","message_id":7690275278685244603123,"received_at":"1795312345678","delivery_id":"d-{instance_id}","proof":"q1w2e3=="}}"#
    )
}

/// Lambda's on-failure record of `job` (its JSON text embedded as it is), failed with a
/// Feishu rejection.
fn record(job: &str) -> String {
    format!(
        r#"{{"version":"1.0","timestamp":"2026-11-30T12:00:00.000Z","requestContext":{{"requestId":"7b1c2d3e-0000-4000-8000-000000000001","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:b-sync:$LATEST","condition":"RetriesExhausted","approximateInvokeCount":3}},"requestPayload":{job},"responseContext":{{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"}},"responsePayload":{{"errorType":"FeishuRejected","errorMessage":"Feishu /open-apis/approval/v4/external_instances failed with code 99991400 (\"request trigger frequency limit\", HTTP 400), log_id LOG-1"}}}}"#
    )
}

#[tokio::test]
async fn a_planted_record_stays_and_is_listed_while_the_destinations_are_handed_back() {
    let harness = Harness::start().await;
    let honest = [decision("po-honest-1"), decision("po-honest-2")];
    for job in &honest {
        harness.send(&harness.destination, &record(job)).await;
    }
    // A decision nobody made, dressed as Lambda's record of a failed job.
    let planted = record(&decision("po-forged"));
    harness.send(&harness.intruder, &planted).await;
    let not_a_record = r#"{"hello":"world"}"#;
    harness.send(&harness.destination, not_a_record).await;

    let outcome = harness.redrive(&[]).await;

    assert_eq!(outcome.code, 1, "something stayed: {outcome:?}");
    assert!(
        outcome
            .stderr
            .contains("2 job(s) stayed in the failure queue"),
        "{outcome:?}"
    );
    let mut handed_back = honest.to_vec();
    handed_back.sort();
    assert_eq!(
        harness.invoked().await,
        handed_back,
        "the honest jobs, byte for byte, and nothing else"
    );
    assert_eq!(
        outcome
            .stdout
            .matches("handed back to `b-sync` (asynchronous invoke) and deleted from the queue")
            .count(),
        2,
        "{outcome:?}"
    );
    assert!(
        outcome
            .stdout
            .contains("decision APPROVE on po-forged/manager — RetriesExhausted after 3 run(s)"),
        "the planted record is listed for what it claims: {outcome:?}"
    );
    assert!(
        outcome.stdout.contains(&format!(
            "stays: sent by {}, not by the sync functions' on-failure destination: planted or \
             misrouted, never replayed",
            harness.intruder_id
        )),
        "{outcome:?}"
    );
    assert!(
        outcome
            .stdout
            .contains("stays: not a Lambda failure record"),
        "{outcome:?}"
    );
    assert!(
        outcome
            .stdout
            .contains(&format!("sender: {}", harness.sync_role.sender_id)),
        "{outcome:?}"
    );
    assert!(
        outcome
            .stdout
            .contains("2 handed back to the sync function and deleted, 2 stayed in the queue"),
        "{outcome:?}"
    );
    let mut left = vec![planted, not_a_record.to_owned()];
    left.sort();
    assert_eq!(harness.bodies().await, left, "what stayed is visible again");
}

#[tokio::test]
async fn dry_run_lists_every_verdict_and_changes_nothing() {
    let harness = Harness::start().await;
    harness
        .send(&harness.destination, &record(&decision("po-1")))
        .await;
    harness
        .send(&harness.intruder, &record(&decision("po-2")))
        .await;
    let before = harness.bodies().await;

    let outcome = harness.redrive(&["--dry-run"]).await;

    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert!(
        outcome.stdout.contains(
            "reason: FeishuRejected (Feishu code 99991400, msg \"request trigger frequency limit\", log_id LOG-1)"
        ),
        "{outcome:?}"
    );
    assert!(
        outcome.stdout.contains("would be handed back to `b-sync`"),
        "{outcome:?}"
    );
    assert!(outcome.stdout.contains("never replayed"), "{outcome:?}");
    assert!(
        outcome.stdout.contains(
            "2 message(s) in the failure queue: 1 would be handed back to the sync function, 1 would stay"
        ),
        "{outcome:?}"
    );
    assert!(harness.invoked().await.is_empty(), "nothing invoked");
    assert_eq!(
        harness.bodies().await,
        before,
        "every message is still there"
    );
}

#[tokio::test]
async fn a_job_lambda_does_not_accept_stays_with_the_reason() {
    let harness = Harness::start().await;
    harness.lambda.reset().await;
    Mock::given(method("POST"))
        .and(path(INVOKE_PATH))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(serde_json::json!({
                    "Type": "User",
                    "message": "Rate Exceeded.",
                    "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"
                }))
                .insert_header("x-amzn-errortype", "TooManyRequestsException"),
        )
        .mount(&harness.lambda)
        .await;
    let body = record(&decision("po-throttled"));
    harness.send(&harness.destination, &body).await;

    let outcome = harness.redrive(&[]).await;

    assert_eq!(outcome.code, 1, "{outcome:?}");
    assert!(
        outcome
            .stdout
            .contains("stays: not handed back: invoking `b-sync` failed"),
        "{outcome:?}"
    );
    assert_eq!(harness.bodies().await, [body]);
}

#[tokio::test]
async fn without_the_sync_role_id_nothing_is_read() {
    let harness = Harness::start().await;
    harness
        .send(&harness.destination, &record(&decision("po-1")))
        .await;
    let missing = harness.run(&[]).await;
    assert_eq!(missing.code, 2, "a usage error: {missing:?}");
    assert!(missing.stderr.contains("--sync-role-id"), "{missing:?}");
    let malformed = harness
        .run(&["--sync-role-id", "arn:aws:iam::123456789012:role/sync"])
        .await;
    assert_eq!(malformed.code, 2, "{malformed:?}");
    assert!(
        malformed.stderr.contains("is not an IAM role id"),
        "{malformed:?}"
    );
    assert!(harness.invoked().await.is_empty());
}
