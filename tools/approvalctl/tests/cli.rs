//! The `approvalctl` binary end to end: against the in-process Feishu simulator, a local callback
//! endpoint (wiremock), files and standard input. Each run gets a cleared environment, so only
//! the variables a test sets reach the binary.

use std::process::Stdio;

use feishu_bridge::callback::{CallbackBody, RawCallback};
use feishu_bridge::crypto::CallbackCipher;
use feishu_sim::{FaultCommand, FaultKind, RunningSimulator, SimConfig, Simulator};
use serde_json::{Value, json};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const APP_ID: &str = "cli_approvalctl_test";
const APP_SECRET: &str = "app-secret-never-printed";
const CALLBACK_TOKEN: &str = "callback-token-never-printed";
const CALLBACK_KEY: &str = "callback-key-never-printed";

/// Test vector ok-0 of `shared/test-vectors/callback-crypto.json` (cross-checked with lark-oapi).
const VECTOR_KEY: &str = "kudryavtsev";
const VECTOR_ENCRYPT: &str = "8IYsR1nKmxVWEgH1LilcWfSPsdAYYrvXGHHKKLCiOhdXRRr4i33IZjD4XB6ZuV6P2i2xJ2+lwpQdgk2RAFUNq7MGj37ki8KtNTMuTyxtcPPKhGRN2caqbWf0LlJ1ZkW4QSx+zWK+QXJ99hD+nfliDRmAoi5NoctLqyC2BvoWQ2wo6mESAsLE0DFnTF2z6k0ajvoH2Yxmjn63b6df3d2GHbP91BxecgIFNLulhS7izzl3raWFKN+BRbxNbouH0jXJP/6gDrq1fONZ5mJulAoaJlVZgF5P+BTmdFQzUBxp8xk93N6hMDWUgll08/jvK+clp7dZTYy5aG5ZoOp1XzQV5Z/eMjrfYA+mjFNnzaeEVDnoeX/eNrEQaUX/lfaZiGrKMvuCk6A8My+NkktouNRLwNj9OvxwQ33TctCvhClW+m6OFY3RHNm6UvxfKcp1AymtEQNCKOJ/ej6JD5wIsVee+A==";
const VECTOR_PLAINTEXT: &str = "{\"action_type\":\"APPROVE\",\"action_context\":\"12345\",\"user_id\":\"b85s39b\",\"approval_code\":\"A3895051-9B16-4ABA-B785-AD2986177BB1\",\"instance_id\":\"people_1234\",\"task_id\":\"step1\",\"reason\":\"ok\",\"attachments\":[{\"file_type\":\"IMAGE\",\"file_name\":\"1.png\",\"file_size\":12345,\"url\":\"https://example.invalid/attachment/413342ae.png\"}],\"token\":\"aaaaa\"}";

/// What a run of the binary produced.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Outcome {
    /// Asserts no configured secret appears in any output.
    fn assert_no_secrets(&self) {
        for secret in [APP_SECRET, CALLBACK_TOKEN, CALLBACK_KEY] {
            assert!(
                !self.stdout.contains(secret) && !self.stderr.contains(secret),
                "a secret was printed: {self:?}"
            );
        }
    }
}

/// Runs the binary with exactly `env`, feeding `stdin` if given.
async fn approvalctl(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_approvalctl"));
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("approvalctl starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin piped");
        pipe.write_all(text.as_bytes())
            .await
            .expect("stdin written");
        drop(pipe);
    }
    let output = child.wait_with_output().await.expect("approvalctl ends");
    Outcome {
        code: output.status.code().expect("exited with a code"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// A simulator that accepts the test app.
async fn simulator() -> RunningSimulator {
    Simulator::start(SimConfig {
        app_id: APP_ID.to_owned(),
        app_secret: APP_SECRET.to_owned(),
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// The app credentials, with the Feishu base URL.
fn app_env(base_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("FEISHU_BASE_URL", base_url.to_owned()),
        ("FEISHU_APP_ID", APP_ID.to_owned()),
        ("FEISHU_APP_SECRET", APP_SECRET.to_owned()),
        ("FEISHU_CALLBACK_TOKEN", CALLBACK_TOKEN.to_owned()),
        ("FEISHU_CALLBACK_KEY", CALLBACK_KEY.to_owned()),
    ]
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

const REGISTER: [&str; 7] = [
    "register",
    "--approval-code",
    "PURCHASE_V1",
    "--name",
    "采购申请",
    "--callback-url",
    "https://cb.example.com/feishu",
];

/// Writes `contents` to a fresh temporary file named like `name`, deleted when the path drops.
fn temp_file(name: &str, contents: &str) -> TempPath {
    let file = tempfile::Builder::new()
        .prefix(name)
        .tempfile()
        .expect("temporary file");
    std::fs::write(file.path(), contents).expect("temporary file written");
    file.into_temp_path()
}

#[tokio::test]
async fn register_prints_both_codes_and_feishu_stores_the_callback_settings() {
    let sim = simulator().await;
    let env = app_env(&sim.base_url());

    let mut args = REGISTER.to_vec();
    args.extend(["--group-code", "PROCUREMENT", "--group-name", "采购"]);
    args.push("--viewer-tenant");
    let human = approvalctl(&args, &borrowed(&env), None).await;
    assert_eq!(human.code, 0, "{human:?}");
    human.assert_no_secrets();

    let state = sim.handle().state();
    let [stored] = state.definitions.as_slice() else {
        panic!("one definition expected: {:?}", state.definitions);
    };
    assert_eq!(stored.custom_code, "PURCHASE_V1");
    assert_ne!(stored.system_code, stored.custom_code);
    assert!(
        human.stdout.contains("custom code:   PURCHASE_V1"),
        "{human:?}"
    );
    assert!(
        human
            .stdout
            .contains(&format!("approval code: {}", stored.system_code)),
        "{human:?}"
    );
    let external = &stored.definition["external"];
    assert_eq!(
        external["action_callback_url"],
        "https://cb.example.com/feishu"
    );
    assert_eq!(external["action_callback_token"], CALLBACK_TOKEN);
    assert_eq!(external["action_callback_key"], CALLBACK_KEY);
    assert_eq!(external["support_pc"], true);
    assert_eq!(external["support_mobile"], true);
    assert_eq!(stored.definition["viewers"][0]["viewer_type"], "TENANT");
    assert_eq!(stored.definition["group_code"], "PROCUREMENT");

    // Registering again updates the same definition; --json prints both codes.
    args.push("--json");
    let json_run = approvalctl(&args, &borrowed(&env), None).await;
    assert_eq!(json_run.code, 0, "{json_run:?}");
    let printed: Value = serde_json::from_str(&json_run.stdout).expect("JSON output");
    assert_eq!(printed["custom_approval_code"], "PURCHASE_V1");
    assert_eq!(printed["approval_code"], stored.system_code.as_str());
    assert_eq!(printed["callbacks_encrypted"], true);
    let state = sim.handle().state();
    assert_eq!(state.definitions.len(), 1);
    assert_eq!(state.definitions[0].revision, 2);
}

#[tokio::test]
async fn a_feishu_refusal_prints_code_msg_log_id_and_a_hint() {
    let sim = simulator().await;
    // The client refreshes its token once on 99991663; failing twice makes it give up.
    sim.handle().inject_fault(FaultCommand::on_path(
        "/open-apis/approval/v4/external_approvals",
        FaultKind::TokenInvalid,
        2,
    ));
    let env = app_env(&sim.base_url());
    let run = approvalctl(&REGISTER, &borrowed(&env), None).await;
    assert_eq!(run.code, 1, "{run:?}");
    run.assert_no_secrets();
    assert!(run.stdout.is_empty(), "{run:?}");
    let log_id = sim
        .handle()
        .requests_to("/open-apis/approval/v4/external_approvals")
        .last()
        .map(|request| request.log_id.clone())
        .expect("the definition was posted");
    assert!(
        run.stderr
            .contains("error: registering the approval definition failed"),
        "{run:?}"
    );
    assert!(run.stderr.contains("Feishu code: 99991663"), "{run:?}");
    assert!(
        run.stderr.contains("Feishu msg:  Invalid access token"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(&format!("log_id:      {log_id}")),
        "{run:?}"
    );
    assert!(run.stderr.contains("hint: 99991663"), "{run:?}");
    assert!(sim.handle().state().definitions.is_empty());
}

#[tokio::test]
async fn a_wrong_app_secret_is_reported_with_feishus_answer() {
    let sim = simulator().await;
    let mut env = app_env(&sim.base_url());
    env.retain(|(name, _)| *name != "FEISHU_APP_SECRET");
    env.push(("FEISHU_APP_SECRET", "not-the-secret".to_owned()));
    let run = approvalctl(&REGISTER, &borrowed(&env), None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Feishu code: 10014"), "{run:?}");
    assert!(
        run.stderr.contains("hint: the app id or app secret"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("not-the-secret"), "{run:?}");
}

#[tokio::test]
async fn an_unreachable_feishu_is_reported_as_such() {
    let sim = simulator().await;
    let base_url = sim.base_url();
    sim.shutdown().await.expect("simulator stops");
    let env = app_env(&base_url);
    let run = approvalctl(&REGISTER, &borrowed(&env), None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("error: registering the approval definition failed"),
        "{run:?}"
    );
    assert!(run.stderr.contains("log_id:      (none)"), "{run:?}");
    assert!(
        run.stderr.contains("hint: Feishu did not answer"),
        "{run:?}"
    );
}

#[tokio::test]
async fn missing_credentials_are_named() {
    let sim = simulator().await;
    let run = approvalctl(&REGISTER, &[("FEISHU_BASE_URL", &sim.base_url())], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("could not load the app credentials"),
        "{run:?}"
    );
    assert!(run.stderr.contains("FEISHU_APP_ID"), "{run:?}");
    assert!(sim.handle().requests().is_empty());
}

#[tokio::test]
async fn encrypt_then_decrypt_round_trips_through_files_and_stdin() {
    let body = r#"{"action_type":"REJECT","user_id":"u1","approval_code":"C","task_id":"t1","message_id":7690275278685244603,"token":"tok"}"#;
    let encrypted = approvalctl(
        &["encrypt", "--key", "round-trip-key"],
        &[],
        Some(&format!("{body}\n")),
    )
    .await;
    assert_eq!(encrypted.code, 0, "{encrypted:?}");
    let object: Value = serde_json::from_str(encrypted.stdout.trim()).expect("JSON output");
    let ciphertext = object["encrypt"].as_str().expect("encrypt field");
    assert_eq!(
        CallbackCipher::new("round-trip-key")
            .decrypt(ciphertext)
            .unwrap(),
        body
    );

    let file = temp_file("callback.json", &encrypted.stdout);
    let file = file.to_str().expect("UTF-8 path");
    let decrypted = approvalctl(
        &["decrypt", file, "--show-token"],
        &[("FEISHU_CALLBACK_KEY", "round-trip-key")],
        None,
    )
    .await;
    assert_eq!(decrypted.code, 0, "{decrypted:?}");
    assert_eq!(decrypted.stdout.trim_end(), body);

    // Without --show-token the token is redacted; the big message id survives intact.
    let redacted = approvalctl(&["decrypt", "--key", "round-trip-key", file], &[], None).await;
    assert_eq!(redacted.code, 0, "{redacted:?}");
    let fields: Value = serde_json::from_str(&redacted.stdout).expect("JSON output");
    assert_eq!(fields["token"], "<redacted>");
    assert_eq!(fields["message_id"].as_u64(), Some(7690275278685244603));
    assert!(redacted.stderr.contains("--show-token"), "{redacted:?}");
}

#[tokio::test]
async fn decrypt_reads_the_shared_test_vector_as_object_or_bare_base64() {
    let object = json!({ "encrypt": VECTOR_ENCRYPT }).to_string();
    for input in [object.as_str(), VECTOR_ENCRYPT] {
        let run = approvalctl(
            &["decrypt", "--key", VECTOR_KEY, "--show-token", "-"],
            &[],
            Some(input),
        )
        .await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout.trim_end(), VECTOR_PLAINTEXT);
    }
}

#[tokio::test]
async fn decrypt_with_the_wrong_key_fails_clearly() {
    let run = approvalctl(
        &["decrypt", "--key", "not-kudryavtsev"],
        &[],
        Some(VECTOR_ENCRYPT),
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(run.stderr.contains("invalid padding"), "{run:?}");
    assert!(run.stderr.contains("hint: the key must be"), "{run:?}");
}

#[tokio::test]
async fn send_callback_posts_an_encrypted_feishu_callback_and_shows_the_answer() {
    let endpoint = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/callback"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"code": 0, "msg": "success"})),
        )
        .mount(&endpoint)
        .await;
    let url = format!("{}/callback", endpoint.uri());
    // The callback token and key alone, as the callback function has them: no app credentials.
    let mut env = app_env("http://127.0.0.1:9");
    env.retain(|(name, _)| !name.starts_with("FEISHU_APP_"));
    let run = approvalctl(
        &[
            "send-callback",
            "--url",
            &url,
            "--approval-code",
            "C30381C8",
            "--instance-id",
            "inst-1",
            "--task-id",
            "task-1",
            "--message-id",
            "7690275278685244603",
            "--action",
            "reject",
            "--user-id",
            "u-approver",
            "--reason",
            "预算不足",
            "--action-context",
            "ctx-42",
        ],
        &borrowed(&env),
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    run.assert_no_secrets();
    assert!(run.stdout.starts_with("HTTP 200 OK\n"), "{run:?}");
    assert!(run.stdout.contains(r#""msg":"success""#), "{run:?}");

    let requests = endpoint.received_requests().await.expect("recording on");
    let [request] = requests.as_slice() else {
        panic!("one callback expected, got {}", requests.len());
    };
    assert_eq!(
        request
            .headers
            .get("content-type")
            .and_then(|value| value.to_str().ok()),
        Some("application/json")
    );
    let CallbackBody::Encrypted(ciphertext) = CallbackBody::parse(&request.body).unwrap() else {
        panic!("an encrypted body expected");
    };
    let plaintext = CallbackCipher::new(CALLBACK_KEY)
        .decrypt(&ciphertext)
        .expect("decrypts with the callback key");
    assert!(
        plaintext.contains(r#""message_id":7690275278685244603"#),
        "{plaintext}"
    );
    let raw = RawCallback::parse(&plaintext).unwrap();
    assert_eq!(raw.token(), Some(CALLBACK_TOKEN));
    let decision = raw.into_decision().unwrap();
    assert_eq!(decision.action.as_str(), "REJECT");
    assert_eq!(decision.approval_code, "C30381C8");
    assert_eq!(decision.instance_id.as_deref(), Some("inst-1"));
    assert_eq!(decision.task_id.as_deref(), Some("task-1"));
    assert_eq!(decision.user_id, "u-approver");
    assert_eq!(decision.reason.as_deref(), Some("预算不足"));
    assert_eq!(decision.action_context.as_deref(), Some("ctx-42"));
}

#[tokio::test]
async fn send_callback_fails_on_a_non_200_answer_and_shows_it() {
    let endpoint = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"message": "already decided", "without_prefix": true})),
        )
        .mount(&endpoint)
        .await;
    let env = app_env("http://127.0.0.1:9");
    let run = approvalctl(
        &[
            "send-callback",
            "--url",
            &endpoint.uri(),
            "--approval-code",
            "C",
            "--task-id",
            "t",
            "--action",
            "APPROVE",
            "--user-id",
            "u",
            "--plaintext",
        ],
        &borrowed(&env),
        None,
    )
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.starts_with("HTTP 409 Conflict\n"), "{run:?}");
    assert!(run.stdout.contains("already decided"), "{run:?}");
    assert!(run.stderr.contains("answered HTTP 409"), "{run:?}");
    let requests = endpoint.received_requests().await.expect("recording on");
    let body: Value = serde_json::from_slice(&requests[0].body).expect("plaintext JSON");
    assert_eq!(body["token"], CALLBACK_TOKEN);
    assert_eq!(body["action_type"], "APPROVE");
}

#[tokio::test]
async fn card_sends_a_1008_card_with_quick_approval_buttons() {
    let sim = simulator().await;
    let env = app_env(&sim.base_url());
    let run = approvalctl(
        &[
            "card",
            "--to",
            "u-approver",
            "--approval-name",
            "采购申请",
            "--link",
            "https://erp.example.com/i/1",
            "--callback-url",
            "https://cb.example.com/feishu",
            "--summary",
            "金额: 100",
        ],
        &borrowed(&env),
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    run.assert_no_secrets();
    let state = sim.handle().state();
    let [card] = state.messages.as_slice() else {
        panic!("one card expected: {:?}", state.messages);
    };
    assert_eq!(run.stdout.trim(), card.message_id);
    assert_eq!(card.template_id, "1008");
    assert_eq!(card.user_id.as_deref(), Some("u-approver"));
    assert!(card.uuid.is_some());
    let callback = card.action_callback.as_ref().expect("quick approval");
    assert_eq!(
        callback["action_callback_url"],
        "https://cb.example.com/feishu"
    );
    assert_eq!(callback["action_callback_token"], CALLBACK_TOKEN);
    let actions: Vec<&Value> = card
        .action_configs
        .iter()
        .map(|config| &config["action_type"])
        .collect();
    assert_eq!(actions, [&json!("APPROVE"), &json!("REJECT")]);
    let links = &card.message["actions"][0];
    for platform in ["url", "pc_url", "ios_url", "android_url"] {
        assert_eq!(links[platform], "https://erp.example.com/i/1");
    }
}

#[tokio::test]
async fn bad_arguments_exit_2_with_a_clear_message() {
    let cases: [(&[&str], &str); 8] = [
        (
            &["register", "--approval-code", "C", "--name", "N"],
            "--callback-url <URL>",
        ),
        (
            &[
                "register",
                "--approval-code",
                "C",
                "--name",
                "N",
                "--callback-url",
                "cb.example.com",
            ],
            "is not an absolute http(s) URL",
        ),
        (
            &[
                "register",
                "--approval-code",
                "C",
                "--name",
                "N",
                "--callback-url",
                "https://cb.example.com",
                "--locale",
                "zh_cn",
            ],
            "is not a Feishu locale",
        ),
        (
            &[
                "register",
                "--approval-code",
                "C",
                "--name",
                "N",
                "--callback-url",
                "https://cb.example.com",
                "--group-code",
                "G",
            ],
            "--group-name",
        ),
        (&["encrypt"], "--key <KEY>"),
        (&["push"], "<INSTANCE.json|->"),
        (
            &[
                "send-callback",
                "--url",
                "https://cb.example.com",
                "--approval-code",
                "C",
                "--task-id",
                "t",
                "--action",
                "APPROVE",
                "--user-id",
                "u",
                "--message-id",
                "12ab",
            ],
            "--message-id",
        ),
        (
            &[
                "card",
                "--to",
                "u",
                "--approval-name",
                "N",
                "--link",
                "https://x.example",
                "--summary",
                "1",
                "--summary",
                "2",
                "--summary",
                "3",
                "--summary",
                "4",
                "--summary",
                "5",
                "--summary",
                "6",
            ],
            "at most 5",
        ),
    ];
    for (args, expected) in cases {
        let run = approvalctl(args, &[], None).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
}

#[tokio::test]
async fn push_refuses_unreadable_malformed_and_invalid_instances_before_invoking() {
    // No AWS configuration at all: reaching the invoke would fail differently.
    let missing = approvalctl(&["push", "/nonexistent/instance.json"], &[], None).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("error: cannot read /nonexistent/instance.json"),
        "{missing:?}"
    );

    let broken = approvalctl(&["push", "-"], &[], Some("{\"approval_code\": ")).await;
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(
        broken
            .stderr
            .contains("standard input is not valid JSON (line 1"),
        "{broken:?}"
    );

    let shape = temp_file(
        "shape.json",
        r#"{"approval_code":"C","status":"PENDING","instance_id":"i","links":{"pc_link":"https://x.example"},"start_time":"1","end_time":"0","update_time":"1","task_list":[{"task_id":"t","links":"https://x.example"}],"i18n_resources":[]}"#,
    );
    let shape = approvalctl(&["push", shape.to_str().unwrap()], &[], None).await;
    assert_eq!(shape.code, 1, "{shape:?}");
    assert!(
        shape.stderr.contains("at `task_list[0].links`"),
        "{shape:?}"
    );

    let invalid = temp_file(
        "invalid.json",
        r#"{"approval_code":"C","status":"PENDING","instance_id":"i","links":{},"user_id":"u","start_time":"1","end_time":"0","update_time":"1","i18n_resources":[{"locale":"zh-CN","is_default":true,"texts":[]}]}"#,
    );
    let invalid = approvalctl(&["push", "--notify", invalid.to_str().unwrap()], &[], None).await;
    assert_eq!(invalid.code, 1, "{invalid:?}");
    assert!(
        invalid.stderr.contains("is not a valid external instance"),
        "{invalid:?}"
    );
    assert!(invalid.stderr.contains("`links`"), "{invalid:?}");
}

/// A complete, valid external instance with one pending task.
const INSTANCE: &str = include_str!("fixtures/instance.json");

/// The Lambda Invoke API path of the default sync function.
const INVOKE_PATH: &str = "/2015-03-31/functions/approval-sync/invocations";

/// Environment pointing the AWS SDK's Lambda client at `endpoint` with fake credentials.
fn lambda_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_LAMBDA", endpoint.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}

#[tokio::test]
async fn push_invokes_the_sync_function_with_an_instance_job_and_prints_its_summary() {
    let lambda = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INVOKE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "job": "instance",
            "instance_id": "inst-1",
            "outcome": "synced",
            "calls": [
                {"api": "external_instances", "target": "inst-1", "accepted": true, "code": 0},
                {"api": "message/send", "target": "inst-1/task-1", "accepted": false,
                 "code": 60001, "msg": "actionUrls incomplete error", "log_id": "LOG-7"}
            ]
        })))
        .mount(&lambda)
        .await;
    let file = temp_file("instance.json", INSTANCE);
    let env = lambda_env(&lambda.uri());
    let run = approvalctl(
        &["push", "--notify", file.to_str().unwrap()],
        &borrowed(&env),
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let summary: Value = serde_json::from_str(&run.stdout).expect("summary JSON");
    assert_eq!(summary["outcome"], "synced");
    assert!(
        run.stderr
            .contains("warning: message/send for inst-1/task-1 was refused: code 60001"),
        "{run:?}"
    );
    assert!(run.stderr.contains("hint: 60001"), "{run:?}");

    let requests = lambda.received_requests().await.expect("recording on");
    let [request] = requests.as_slice() else {
        panic!("one invoke expected, got {}", requests.len());
    };
    assert_eq!(
        request
            .headers
            .get("x-amz-invocation-type")
            .and_then(|value| value.to_str().ok()),
        Some("RequestResponse")
    );
    let job: Value = serde_json::from_slice(&request.body).expect("job JSON");
    assert_eq!(job["type"], "instance");
    assert_eq!(job["notify"], true);
    let sent: Value = serde_json::from_str(INSTANCE).unwrap();
    assert_eq!(job["instance"], sent);
}

#[tokio::test]
async fn push_reports_a_function_error_with_its_type_message_and_hint() {
    let lambda = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/2015-03-31/functions/my-sync/invocations"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-Amz-Function-Error", "Unhandled")
                .set_body_json(json!({
                    "errorType": "FeishuRejected",
                    "errorMessage": "Feishu external_instances for inst-1 failed: Feishu /open-apis/approval/v4/external_instances failed with code 1390002 (\"approval code not found\", HTTP 400), log_id LOG-9"
                })),
        )
        .mount(&lambda)
        .await;
    let mut env = lambda_env(&lambda.uri());
    env.push(("SYNC_FUNCTION_NAME", "my-sync".to_owned()));
    let run = approvalctl(&["push", "-"], &borrowed(&env), Some(INSTANCE)).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(
        run.stderr.contains(
            "the sync function `my-sync` failed: FeishuRejected: Feishu external_instances"
        ),
        "{run:?}"
    );
    assert!(run.stderr.contains("log_id LOG-9"), "{run:?}");
    assert!(run.stderr.contains("hint: 1390002"), "{run:?}");
}
