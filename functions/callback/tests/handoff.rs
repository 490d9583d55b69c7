//! `LambdaHandoff` against a stand-in for the Lambda Invoke API.

use std::time::Duration;

use approval_callback::handoff::{Handoff, HandoffError, LambdaHandoff};
use aws_sdk_lambda::config::Credentials;
use feishu_bridge::job::SyncJob;
use serde_json::json;
use tokio::time::Instant;
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
async fn handoff(server: &MockServer) -> LambdaHandoff {
    let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(server.uri())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"))
        .load()
        .await;
    LambdaHandoff::new(&sdk_config, "approval-sync".to_owned())
}

/// The deadline of a hand-off started now with `budget`.
fn within(budget: Duration) -> Instant {
    Instant::now() + budget
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

    let result = handoff(&server)
        .await
        .hand_off(&job(), within(Duration::from_secs(3)))
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

    let result = handoff(&server)
        .await
        .hand_off(&job(), within(Duration::from_secs(3)))
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

    let result = handoff(&server)
        .await
        .hand_off(&job(), within(Duration::from_secs(3)))
        .await;
    assert!(matches!(result, Err(HandoffError::Invoke(_))), "{result:?}");
}

#[tokio::test]
async fn slow_lambda_api_fails_at_the_deadline_after_one_attempt() {
    let server = MockServer::start().await;
    invoke_endpoint()
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_secs(30)))
        .expect(1)
        .mount(&server)
        .await;

    let budget = Duration::from_millis(300);
    let handoff = handoff(&server).await;
    let started = Instant::now();
    let result = handoff.hand_off(&job(), within(budget)).await;
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(HandoffError::Invoke(_))), "{result:?}");
    // Waited the whole budget (not a fraction of it), and gave up by its end.
    assert!(
        budget <= elapsed && elapsed < budget + Duration::from_millis(250),
        "gave up after {elapsed:?}"
    );
}

#[tokio::test]
async fn lambda_api_answering_in_1_6_s_is_invoked_once_and_accepted_within_3_s() {
    let server = MockServer::start().await;
    invoke_endpoint()
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_millis(1_600)))
        .expect(1)
        .mount(&server)
        .await;

    let result = handoff(&server)
        .await
        .hand_off(&job(), within(Duration::from_secs(3)))
        .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn a_failed_attempt_is_retried_once_within_the_deadline() {
    let server = MockServer::start().await;
    invoke_endpoint()
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("x-amzn-errortype", "ServiceException")
                .set_body_json(json!({"Type": "Service", "Message": "try again"})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    invoke_endpoint()
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let result = handoff(&server)
        .await
        .hand_off(&job(), within(Duration::from_secs(3)))
        .await;
    assert!(result.is_ok(), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn warm_up_is_a_dry_run_that_hands_nothing_off() {
    let server = MockServer::start().await;
    invoke_endpoint()
        .and(header("x-amz-invocation-type", "DryRun"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;

    let handoff = handoff(&server).await;
    let result = handoff.warm_up().await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn warm_up_without_permission_to_invoke_fails_without_handing_off() {
    let server = MockServer::start().await;
    invoke_endpoint()
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-amzn-errortype", "AccessDeniedException")
                .set_body_json(
                    json!({"Message": "not authorized to perform lambda:InvokeFunction"}),
                ),
        )
        .mount(&server)
        .await;

    let result = handoff(&server).await.warm_up().await;
    assert!(matches!(result, Err(HandoffError::Invoke(_))), "{result:?}");
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests
            .iter()
            .all(|request| request.headers["x-amz-invocation-type"] == "DryRun"),
        "only dry runs"
    );
}
