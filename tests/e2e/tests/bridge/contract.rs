//! The integrators' contract against the running bridge: the README's Python (boto3) and
//! TypeScript (AWS SDK v3) examples invoke the sync function through watch's Invoke API, and the
//! jobs and events the bridge really produces validate against `schemas/`.
//!
//! With `RECORD_CONTRACT_EXAMPLES=1` the recorded jobs and events are also written to
//! `schemas/examples/`, where the contract crate's tests check them against the parsers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use feishu_sim::{FaultCommand, FaultKind, Tap, TapOutcome};
use serde_json::{Value, json};

use crate::stack::{Bridge, BridgeOptions, approver, eventually, instance_json};

const SETTLE: Duration = Duration::from_secs(60);
const INSTANCES_PATH: &str = "/open-apis/approval/v4/external_instances";

fn workspace_file(path: &str) -> PathBuf {
    testkit::workspace_root().join(path)
}

fn schema(path: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(workspace_file(path)).expect("the schema file");
    let schema: Value = serde_json::from_str(&text).expect("a JSON schema");
    jsonschema::draft7::new(&schema).expect("a draft-07 schema")
}

fn assert_valid(validator: &jsonschema::Validator, what: &str, value: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{what} fails its schema: {errors:?}\n{value:#}"
    );
}

/// Writes `value` to `schemas/examples/<path>` when recording.
fn record(path: &str, value: &Value) {
    if std::env::var_os("RECORD_CONTRACT_EXAMPLES").is_some() {
        let mut text = serde_json::to_string_pretty(value).expect("JSON");
        text.push('\n');
        std::fs::write(workspace_file(&format!("schemas/examples/{path}")), text)
            .expect("the example is written");
    }
}

/// Runs an example program with the Lambda client environment; returns exit code and stdout.
async fn run_example(bridge: &Bridge, program: &Path, args: &[&Path]) -> (i32, String) {
    assert!(
        program.exists(),
        "{} is missing: run scripts/setup (it installs the examples' tools)",
        program.display()
    );
    let output = tokio::process::Command::new(program)
        .args(args)
        .envs(bridge.lambda_client_env())
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .current_dir(testkit::workspace_root())
        .output()
        .await
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stdout}\n{stderr}",
        program.display(),
        output.status
    );
    (output.status.code().unwrap_or(-1), stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_and_typescript_examples_push_an_instance() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let code = bridge.register("E2E_EXAMPLES").await;
    let dir = tempfile_dir();
    let examples = [
        (
            "po-python",
            workspace_file(".venv/bin/python"),
            vec![workspace_file("examples/python/invoke_sync.py")],
        ),
        (
            "po-typescript",
            workspace_file("examples/typescript/node_modules/.bin/tsx"),
            vec![workspace_file("examples/typescript/invoke-sync.ts")],
        ),
    ];
    for (instance_id, program, mut args) in examples {
        let file = dir.join(format!("{instance_id}.json"));
        let instance = instance_json(&code, instance_id, &["manager"]);
        std::fs::write(&file, instance.to_string()).expect("the instance file");
        args.push(file);
        let args: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();

        let (_, stdout) = run_example(&bridge, &program, &args).await;

        let summary: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|_| panic!("{instance_id}: not a JSON summary: {stdout}"));
        assert_eq!(summary["job"], "instance", "{summary}");
        assert_eq!(summary["instance_id"], instance_id);
        assert_eq!(summary["outcome"], "synced");
        let synced = bridge
            .sim
            .handle()
            .instance(instance_id)
            .unwrap_or_else(|| panic!("{instance_id} reached Feishu"));
        assert_eq!(synced.tasks[0].task_id, "manager");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh directory for the examples' input files.
fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "e2e-contract-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_and_events_the_bridge_produces_match_the_schemas() {
    let jobs = schema("schemas/sync-job.schema.json");
    let decisions = schema("schemas/decision-event.schema.json");
    let refusals = schema("schemas/refused-event.schema.json");
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let code = bridge.register("E2E_CONTRACT").await;
    let instance = instance_json(&code, "po-contract", &["manager", "finance"]);
    let job = json!({"type": "instance", "instance": instance, "notify": true});
    assert_valid(&jobs, "the instance job", &job);
    bridge.push(&instance, true).await;
    let card_of = |task: &str| {
        let user = approver(task);
        bridge
            .sim
            .handle()
            .cards()
            .into_iter()
            .find(|card| card.user_id.as_deref() == Some(user.as_str()))
            .unwrap_or_else(|| panic!("a card for {task}"))
    };

    // An approval on the manager's card: the "Approval Decision" event.
    let manager_card = card_of("manager");
    let tap = Tap::new("APPROVE", &code).with_reason("预算内，同意");
    let callback = bridge
        .sim
        .handle()
        .tap(&manager_card.message_id, &tap)
        .expect("a tap");
    let (status, _) = bridge.post(&callback.url, callback.body.clone()).await;
    assert_eq!(status, 200);
    bridge
        .sim
        .handle()
        .settle_tap(
            &manager_card.message_id,
            callback.tap,
            TapOutcome::from_http_status(status),
        )
        .expect("settled");
    let decision = bridge.first_event("Approval Decision", SETTLE).await;
    assert_valid(&decisions, "the decision event", &decision["detail"]);
    record(
        "decision-events/recorded-card-approval.json",
        &decision["detail"],
    );

    // Someone else acts on the finance task from the list: the refused event.
    let intruder = bridge.encrypted_callback(
        json!({"action_type": "APPROVE", "user_id": "someone-else", "approval_code": code,
               "instance_id": "po-contract", "task_id": "finance"}),
        None,
    );
    // Answered 409 at once (the look-up judges the approver first), handed off all the same.
    let (status, _) = bridge.post(&bridge.callback_url(), intruder).await;
    assert_eq!(status, 409);
    let refused = bridge
        .first_event("Approval Decision Refused", SETTLE)
        .await;
    assert_eq!(refused["detail"]["refusal"]["reason"], "not_the_approver");
    assert_valid(&refusals, "the refused event", &refused["detail"]);
    record(
        "refused-events/recorded-not-the-approver.json",
        &refused["detail"],
    );

    // The job the callback hands off, as Lambda records it when the job fails for good (Feishu
    // refuses every push meanwhile).
    bridge.sim.handle().inject_fault(FaultCommand::on_path(
        INSTANCES_PATH,
        FaultKind::Http500,
        10_000,
    ));
    let finance_card = card_of("finance");
    let callback = bridge
        .sim
        .handle()
        .tap(&finance_card.message_id, &Tap::new("REJECT", &code))
        .expect("a tap");
    let (status, _) = bridge.post(&callback.url, callback.body.clone()).await;
    assert_eq!(status, 200);
    let failed = eventually("the failure record", SETTLE, || async {
        bridge.failure_records().await.into_iter().next()
    })
    .await;
    bridge.sim.handle().clear_faults();
    let handed_off = failed.request_payload;
    assert_eq!(handed_off["type"], "decision");
    assert_eq!(handed_off["message_id"], finance_card.message_id.as_str());
    assert_valid(
        &jobs,
        "the decision job the callback handed off",
        &handed_off,
    );
    record("jobs/decision-from-callback.json", &handed_off);
}
