//! The `feishu-sim` binary: flags, the printed base URL, and serving.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn binary_prints_its_base_url_and_accepts_the_configured_app() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_feishu-sim"))
        .args([
            "--port",
            "0",
            "--app-id",
            "cli_cli_test",
            "--app-secret",
            "cli-secret",
            "--duplicate-uuid",
            "new_id",
        ])
        .env("FEISHU_SIM_CHECK_BATCH_LIMIT", "25")
        .env(
            "FEISHU_SIM_RATE_LIMITS",
            r#"{"window": "sliding", "message_update": {"per_second": 10, "per_minute": null}}"#,
        )
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let line = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("stdout readable")
        .expect("a line is printed");
    let base_url = line
        .strip_prefix("feishu-sim listening on ")
        .expect("announces its base URL")
        .to_owned();
    assert!(base_url.starts_with("http://127.0.0.1:"));

    let client = reqwest::Client::new();
    let answer: Value = client
        .post(format!(
            "{base_url}/open-apis/auth/v3/tenant_access_token/internal"
        ))
        .json(&json!({"app_id": "cli_cli_test", "app_secret": "cli-secret"}))
        .send()
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["code"], 0);
    assert!(
        answer["tenant_access_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("t-"))
    );

    let settings: Value = client
        .get(format!("{base_url}/_sim/settings"))
        .send()
        .await
        .expect("simulator answers")
        .json()
        .await
        .expect("JSON");
    let feishu = json!({"per_second": 50, "per_minute": 1000});
    assert_eq!(
        settings,
        json!({
            "duplicate_uuid": "new_id",
            "check_batch_limit": 25,
            "rate_limits": {
                "window": "sliding",
                "external_approvals": feishu,
                "external_instances": feishu,
                "external_instances_check": feishu,
                "message_send": feishu,
                "message_update": {"per_second": 10, "per_minute": null}
            }
        })
    );

    child.kill().await.expect("stopped");
}
