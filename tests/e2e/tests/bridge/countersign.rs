//! Countersign (会签) through the real stack: twelve approvers approve one instance at once, from
//! the Approval Center list, while four sync function processes share moto's DynamoDB (as
//! separate Lambda containers do) and Feishu answers every approval call in 80 ms.

use std::time::Duration;

use feishu_sim::{FaultCommand, FaultKind, FaultRule};
use futures::future::join_all;
use serde_json::json;

use crate::stack::{Bridge, BridgeOptions, action_context, approver, instance_json};

const APPROVERS: usize = 12;
const SETTLE: Duration = Duration::from_secs(120);
const INSTANCE_PATH: &str = "/open-apis/approval/v4/external_instances";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_approvers_at_once_lose_nothing_and_push_at_most_twice_each() {
    let bridge = Bridge::start(BridgeOptions {
        concurrency: 4,
        ..BridgeOptions::default()
    })
    .await;
    let approval_code = bridge.register("E2E_COUNTERSIGN").await;
    let task_ids: Vec<String> = (1..=APPROVERS).map(|n| format!("t{n}")).collect();
    let task_refs: Vec<&str> = task_ids.iter().map(String::as_str).collect();
    bridge
        .push(&instance_json(&approval_code, "po-5001", &task_refs), false)
        .await;
    let pushes_before = bridge.sim.handle().requests_to(INSTANCE_PATH).len();
    for path in [INSTANCE_PATH, "/open-apis/approval/v1/message/update"] {
        bridge
            .sim
            .handle()
            .inject_fault(FaultCommand::Rule(FaultRule {
                path: Some(path.to_owned()),
                kind: FaultKind::Slow,
                count: 1_000,
                reset_secs: 0,
                delay_ms: 80,
            }));
    }

    let url = bridge.callback_url();
    let bridge = &bridge;
    let answers = join_all(task_ids.iter().map(|task_id| {
        let body = bridge.encrypted_callback(
            json!({
                "action_type": "APPROVE",
                "action_context": action_context("po-5001", task_id),
                "user_id": approver(task_id),
                "approval_code": approval_code,
                "instance_id": "po-5001",
                "task_id": task_id,
            }),
            None,
        );
        let url = &url;
        async move { bridge.post(url, body).await }
    }))
    .await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let stats = bridge.lambda_async.wait_until_idle(SETTLE).await;
    bridge.sim.handle().clear_faults();

    assert_eq!(stats.pending, 0, "{stats:?}");
    assert_eq!(
        (stats.succeeded, stats.function_errors),
        (APPROVERS as u64, 0),
        "every job succeeds the first time: {stats:?}"
    );
    assert!(
        stats.max_running > 1,
        "the jobs ran one at a time: {stats:?}"
    );
    let state = bridge.sim.handle().state();
    let synced = state
        .instances
        .iter()
        .find(|instance| instance.instance_id == "po-5001")
        .expect("the instance is in Feishu");
    assert_eq!(synced.status, "APPROVED");
    assert!(synced.tasks.iter().all(|task| task.status == "APPROVED"));
    let pushes = bridge.sim.handle().requests_to(INSTANCE_PATH).len() - pushes_before;
    let events = bridge.decision_events().await;
    eprintln!(
        "countersign: {APPROVERS} approvals, {pushes} pushes, {} sync runs, at most {} at once",
        stats.runs, stats.max_running
    );
    assert!(
        pushes <= 2 * APPROVERS,
        "{pushes} pushes for {APPROVERS} decisions"
    );
    let decided: std::collections::BTreeSet<String> = events
        .iter()
        .map(|event| {
            event["detail"]["decision_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(decided.len(), APPROVERS, "one decision event per approver");
}
