//! The functions' log subscriber (`feishu_bridge::logging`) at DEBUG: the bridge's own debug
//! lines are written, the AWS SDK's and its HTTP stack's are not (they may quote the items and
//! secrets they carry, approvers' comments among them).
//!
//! A test binary of its own: the subscriber is process-global and reads the environment once.

use std::time::Duration;

use feishu_bridge::secrets::CallbackCredentialSource;
use serde_json::Value;
use testkit::{CapturedLogs, MotoServer};

const SECRET_ID: &str = "feishu/approval-bridge/callback";

#[tokio::test]
async fn at_debug_the_bridge_logs_its_own_lines_and_the_sdks_stay_at_info() {
    // SAFETY: this binary runs this one test, and nothing else reads or writes the environment
    // while it is changed here, before the subscriber reads it.
    unsafe {
        std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
        std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "DEBUG");
        std::env::remove_var("RUST_LOG");
    }
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    feishu_bridge::logging::init_with_writer(move || writer.clone());

    let moto = MotoServer::start().await;
    let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
    client
        .create_secret()
        .name(SECRET_ID)
        .secret_string(r#"{"callback_token":"SECRET-TOKEN-4711","callback_key":"SECRET-KEY"}"#)
        .send()
        .await
        .expect("moto creates the secret");
    // A real round trip through the SDK (its orchestrator, hyper, the credentials chain), each
    // of which logs at DEBUG, ended by the bridge's own debug line.
    CallbackCredentialSource::secrets_manager(client, SECRET_ID, Duration::from_secs(60))
        .get()
        .await
        .expect("the secret loads");

    let text = logs.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("log lines are JSON"))
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|line| line["fields"]["message"].as_str())
        .collect();
    assert_eq!(
        messages,
        ["loaded a secret from Secrets Manager"],
        "only the bridge's debug line: {text}"
    );
    assert!(lines.iter().all(|line| line["level"] == "DEBUG"), "{text}");
    assert!(!text.contains("SECRET-TOKEN-4711"), "{text}");
}
