//! `LambdaHandoff` against a stand-in for the Lambda Invoke API.

use std::time::{Duration, Instant};

use approval_callback::handoff::{Handoff, HandoffError, LambdaHandoff};
use aws_sdk_lambda::config::Credentials;
use feishu_bridge::job::SyncJob;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const INVOKE_PATH: &str = "/2015-03-31/functions/approval-sync/invocations";

fn job() -> SyncJob {
    serde_json::from_value(json!({
        "type": "decision",
        "approval_code": "C0DE",
        "instance_id": "i-1",
        "task_id": "t-1",
        "message_id": "7250020197497765889",
        "action": "REJECT",
        "user_id": "ou_1",
        "received_at": "1795248912345"
    }))
    .unwrap()
}

/// A mock of the Lambda Invoke API for the sync function, to refine and mount.
fn invoke_endpoint() -> MockBuilder {
    Mock::given(method("POST")).and(path(INVOKE_PATH))
}

/// A hand-off to the sync function behind `server`.
async fn handoff(server: &MockServer, deadline: Duration) -> LambdaHandoff {
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(server.uri())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .load()
        .await;
    LambdaHandoff::new(&sdk_config, "approval-sync".to_owned(), deadline)
}

#[tokio::test]
async fn accepted_event_invoke_carries_the_job_json() {
    let server = MockServer::start().await;
    invoke_endpoint()
        .and(header("x-amz-invocation-type", "Event"))
        .and(body_json(serde_json::to_value(job()).unwrap()))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;

    let result = handoff(&server, Duration::from_secs(3))
        .await
        .hand_off(&job())
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn answer_with_a_function_error_is_not_accepted() {
    let server = MockServer::start().await;
    invoke_endpoint()
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-amz-function-error", "Unhandled")
                .set_body_json(json!({"errorMessage": "boom"})),
        )
        .mount(&server)
        .await;

    let result = handoff(&server, Duration::from_secs(3))
        .await
        .hand_off(&job())
        .await;
    match result {
        Err(HandoffError::Rejected {
            status: 200,
            function_error: Some(error),
        }) => assert_eq!(error, "Unhandled"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn service_error_is_not_accepted() {
    let server = MockServer::start().await;
    invoke_endpoint()
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-amzn-errortype", "ResourceNotFoundException")
                .set_body_json(json!({"Type": "User", "Message": "Function not found"})),
        )
        .mount(&server)
        .await;

    let result = handoff(&server, Duration::from_secs(3))
        .await
        .hand_off(&job())
        .await;
    assert!(matches!(result, Err(HandoffError::Invoke(_))), "{result:?}");
}

#[tokio::test]
async fn slow_lambda_api_fails_within_the_deadline() {
    let server = MockServer::start().await;
    invoke_endpoint()
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;

    let deadline = Duration::from_millis(300);
    let handoff = handoff(&server, deadline).await;
    let started = Instant::now();
    let result = handoff.hand_off(&job()).await;
    assert!(matches!(result, Err(HandoffError::Invoke(_))), "{result:?}");
    // Bounded by the SDK timeouts, not by the 30 s the server would take.
    assert!(started.elapsed() < Duration::from_secs(10));
}
