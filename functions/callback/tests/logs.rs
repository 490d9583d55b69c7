//! The callback's log lines, written by the subscriber `main` installs
//! (`feishu_bridge::logging::init`) in the JSON format Lambda is configured
//! with.
//!
//! A test binary of its own: the subscriber is process-global and reads the environment once.

use std::time::Duration;

use approval_callback::event::handle_event;
use approval_callback::handler::CallbackService;
use approval_callback::handoff::InMemoryHandoff;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use feishu_bridge::crypto::CallbackCipher;
use feishu_bridge::secrets::{CallbackCredentialSource, CallbackCredentials, Secret};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use testkit::CapturedLogs;

/// The plaintext POST fixture with its body replaced by `body`, as the Lambda runtime hands it
/// over: with the invocation's context.
fn request(body: &str, request_id: &str) -> LambdaEvent<ApiGatewayV2httpRequest> {
    let mut event: Value =
        serde_json::from_str(include_str!("fixtures/plaintext-approve.json")).unwrap();
    event["body"] = Value::from(body);
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    LambdaEvent::new(
        serde_json::from_value(event).expect("fixture is an API Gateway v2 event"),
        context,
    )
}

#[tokio::test]
async fn logs_name_the_decision_and_never_a_secret() {
    // SAFETY: this binary runs this one test, and nothing else reads or writes the environment
    // while it is changed here, before the subscriber reads it.
    unsafe {
        std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
        std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "INFO");
        std::env::remove_var("RUST_LOG");
    }
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    feishu_bridge::logging::init_with_writer(move || writer.clone());

    let token = "SECRET-TOKEN-4711";
    let key = "SECRET-KEY-0815";
    let credentials = CallbackCredentialSource::fixed(CallbackCredentials {
        callback_token: Secret::new(token),
        callback_key: Some(Secret::new(key)),
        previous_callback: None,
    });
    let service = CallbackService::new(credentials, InMemoryHandoff::new(), Duration::from_secs(3));
    let plaintext = format!(
        r#"{{"action_type":"APPROVE","user_id":"u-42","approval_code":"CODE-7","instance_id":"inst-9","task_id":"task-3","reason":"SECRET-REASON","action_context":"SECRET-CONTEXT","token":"{token}"}}"#
    );
    let encrypted = |plaintext: &str| {
        json!({ "encrypt": CallbackCipher::new(key).encrypt(plaintext) }).to_string()
    };
    let body = encrypted(&plaintext);
    let accepted = handle_event(&service, request(&body, "req-accepted")).await;
    assert_eq!(accepted.status_code, 200);
    let wrong_token = encrypted(&plaintext.replace(token, "SECRET-PRESENTED-1"));
    let refused = handle_event(&service, request(&wrong_token, "req-refused")).await;
    assert_eq!(refused.status_code, 401);

    let text = logs.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("log lines are JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    let accepted = &lines[0]["fields"];
    assert_eq!(accepted["request_id"], "req-accepted");
    assert_eq!(accepted["outcome"], "accepted");
    assert_eq!(accepted["approval_code"], "CODE-7");
    assert_eq!(accepted["instance_id"], "inst-9");
    assert_eq!(accepted["task_id"], "task-3");
    assert_eq!(accepted["action"], "APPROVE");
    assert!(accepted["latency_us"].is_u64());
    let refused = &lines[1]["fields"];
    assert_eq!(refused["request_id"], "req-refused");
    assert_eq!(refused["outcome"], "bad_token");
    assert_eq!(refused["status"], 401);
    assert!(!text.contains("SECRET"), "{text}");
    for ciphertext in [&body, &wrong_token] {
        let encrypt: Value = serde_json::from_str(ciphertext).unwrap();
        assert!(!text.contains(encrypt["encrypt"].as_str().unwrap()));
    }
}
