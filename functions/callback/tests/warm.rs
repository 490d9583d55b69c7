//! The container's warm-up at init, against stand-ins for Secrets Manager and Lambda's API.

use std::sync::Arc;
use std::time::Duration;

use approval_callback::event::handle_event;
use approval_callback::handler::CallbackService;
use approval_callback::handoff::LambdaHandoff;
use approval_callback::warm::warm_up_within;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use feishu_bridge::secrets::CallbackCredentialSource;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use tokio::time::Instant;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// Token and key of `fixtures/encrypted-approve.json`.
const TOKEN: &str = "aaaaa";
const KEY: &str = "kudryavtsev";
const INVOKE_PATH: &str = "/2015-03-31/functions/approval-sync/invocations";

async fn sdk_config(server: &MockServer) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(server.uri())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .load()
        .await
}

fn get_secret_value() -> MockBuilder {
    Mock::given(method("POST")).and(header("x-amz-target", "secretsmanager.GetSecretValue"))
}

fn callback_secret() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "Name": "feishu/callback",
        "SecretString": json!({"callback_token": TOKEN, "callback_key": KEY}).to_string(),
    }))
}

fn invoke(invocation_type: &str) -> MockBuilder {
    Mock::given(method("POST"))
        .and(path(INVOKE_PATH))
        .and(header("x-amz-invocation-type", invocation_type))
}

/// The service of a container: the callback secret at `secrets_manager` (cached an hour), the
/// sync function at `lambda`.
async fn service(
    secrets_manager: &MockServer,
    lambda: &MockServer,
    deadline: Duration,
) -> Arc<CallbackService<LambdaHandoff>> {
    let source = CallbackCredentialSource::secrets_manager(
        aws_sdk_secretsmanager::Client::new(&sdk_config(secrets_manager).await),
        "feishu/callback",
        Duration::from_secs(3600),
    );
    let handoff = LambdaHandoff::new(&sdk_config(lambda).await, "approval-sync".to_owned());
    Arc::new(CallbackService::new(source, handoff, deadline))
}

/// Waits (up to 2 s) until `lambda` has received a dry run: the hand-off's warm-up runs
/// alongside init, not within it.
async fn dry_run_received(lambda: &MockServer) -> bool {
    for _ in 0..100 {
        let requests = lambda.received_requests().await.unwrap_or_default();
        if requests
            .iter()
            .any(|request| request.headers["x-amz-invocation-type"] == "DryRun")
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn first_callback() -> LambdaEvent<ApiGatewayV2httpRequest> {
    LambdaEvent::new(
        serde_json::from_str(include_str!("fixtures/encrypted-approve.json")).unwrap(),
        Context::default(),
    )
}

#[tokio::test]
async fn warm_up_loads_the_secret_while_opening_the_hand_off_and_the_first_callback_only_invokes() {
    let secrets_manager = MockServer::start().await;
    get_secret_value()
        .respond_with(callback_secret())
        .expect(1)
        .mount(&secrets_manager)
        .await;
    let lambda = MockServer::start().await;
    invoke("DryRun")
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&lambda)
        .await;
    invoke("Event")
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&lambda)
        .await;
    let service = service(&secrets_manager, &lambda, Duration::from_secs(3)).await;

    let loaded = warm_up_within(&service, Duration::from_secs(5)).await;
    assert!(matches!(loaded, Some(Ok(()))), "{loaded:?}");
    assert!(dry_run_received(&lambda).await);

    let answer = handle_event(&service, first_callback()).await;
    assert_eq!(answer.status_code, 200, "{answer:?}");
    // The mocks' expectations: one secret fetch (the warm-up's), one dry run, one invoke.
}

#[tokio::test]
async fn a_slow_secret_at_init_neither_holds_init_past_its_budget_nor_crashes_the_first_callback() {
    let secrets_manager = MockServer::start().await;
    get_secret_value()
        .respond_with(callback_secret().set_delay(Duration::from_secs(10)))
        .mount(&secrets_manager)
        .await;
    let lambda = MockServer::start().await;
    invoke("DryRun")
        .respond_with(ResponseTemplate::new(204))
        .mount(&lambda)
        .await;
    let deadline = Duration::from_millis(300);
    let service = service(&secrets_manager, &lambda, deadline).await;

    let budget = Duration::from_millis(100);
    let init = Instant::now();
    assert!(warm_up_within(&service, budget).await.is_none());
    assert!(init.elapsed() < budget + Duration::from_millis(200));

    let started = Instant::now();
    let answer = handle_event(&service, first_callback()).await;
    let elapsed = started.elapsed();
    assert_eq!(answer.status_code, 503, "{answer:?}");
    assert!(
        deadline <= elapsed && elapsed < deadline + Duration::from_millis(250),
        "answered after {elapsed:?}"
    );
}

#[tokio::test]
async fn what_the_warm_up_could_not_do_the_first_callback_does_itself() {
    let secrets_manager = MockServer::start().await;
    get_secret_value()
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "__type": "AccessDeniedException",
            "message": "the role's policy has not propagated yet"
        })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&secrets_manager)
        .await;
    get_secret_value()
        .respond_with(callback_secret())
        .expect(1)
        .mount(&secrets_manager)
        .await;
    let lambda = MockServer::start().await;
    invoke("DryRun")
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"Message": "denied"})))
        .mount(&lambda)
        .await;
    invoke("Event")
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&lambda)
        .await;
    let service = service(&secrets_manager, &lambda, Duration::from_secs(3)).await;

    let loaded = warm_up_within(&service, Duration::from_secs(5)).await;
    assert!(matches!(loaded, Some(Err(_))), "{loaded:?}");
    assert!(dry_run_received(&lambda).await);

    let answer = handle_event(&service, first_callback()).await;
    assert_eq!(answer.status_code, 200, "{answer:?}");
}
