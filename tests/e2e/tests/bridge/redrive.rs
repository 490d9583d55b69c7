//! `approvalctl redrive` on the whole local stack: a decision whose instance push fails every
//! attempt lands in the failure queue (through `lambda-async`, as Lambda's on-failure record,
//! sent with the sync role); once Feishu is healthy again, redrive hands it back to the
//! asynchronous sync function, which applies it, and the queue is empty.

use std::time::Duration;

use feishu_sim::{FaultCommand, FaultKind, FaultRule};
use serde_json::json;

use crate::stack::{Bridge, BridgeOptions, action_context, approver, instance_json};

/// How long a decision may take, Lambda retries included.
const SETTLE: Duration = Duration::from_secs(90);
const INSTANCE_PATH: &str = "/open-apis/approval/v4/external_instances";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_failed_every_retry_is_applied_by_redrive_and_leaves_the_queue() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let approval_code = bridge.register("E2E_REDRIVE").await;
    bridge
        .push(
            &instance_json(&approval_code, "po-4001", &["manager"]),
            true,
        )
        .await;
    let card = bridge.card("po-4001", "manager").expect("a card");
    let approve = bridge.encrypted_callback(
        json!({
            "action_type": "APPROVE",
            "action_context": action_context("po-4001", "manager"),
            "user_id": approver("manager"),
            "approval_code": approval_code,
        }),
        Some(&card.message_id),
    );
    // Feishu rejects every instance push until the faults are cleared: each run of the job
    // fails, Lambda (lambda-async) retries it, then writes its failure record to the queue.
    bridge
        .sim
        .handle()
        .inject_fault(FaultCommand::Rule(FaultRule {
            path: Some(INSTANCE_PATH.to_owned()),
            kind: FaultKind::Http500,
            count: 1_000,
            reset_secs: 1,
            delay_ms: 0,
        }));
    let (status, _) = bridge.post(&bridge.callback_url(), approve).await;
    assert_eq!(status, 200);
    let stats = bridge.lambda_async.wait_until_idle(SETTLE).await;
    assert_eq!((stats.pending, stats.failed), (0, 1), "{stats:?}");

    let (code, listed, errors) = bridge.redrive(&["--dry-run"]).await;
    assert_eq!(code, 0, "{listed}\n{errors}");
    // The callback came from the card, which names the task by its message id only.
    assert!(
        listed.contains(&format!(
            "decision APPROVE on card {} — RetriesExhausted after 3 run(s)",
            card.message_id
        )),
        "{listed}"
    );
    assert!(listed.contains("reason: FeishuTransient"), "{listed}");

    bridge.sim.handle().clear_faults();
    let (code, redriven, errors) = bridge.redrive(&[]).await;
    assert_eq!(code, 0, "{redriven}\n{errors}");
    assert!(
        redriven.contains("1 handed back to the sync function and deleted, 0 stayed"),
        "{redriven}"
    );
    // The job runs asynchronously, as the callback's hand-off did.
    let stats = bridge.lambda_async.wait_until_idle(SETTLE).await;
    assert_eq!((stats.pending, stats.succeeded), (0, 1), "{stats:?}");

    let task = bridge
        .sim
        .handle()
        .state()
        .instances
        .into_iter()
        .find(|instance| instance.instance_id == "po-4001")
        .and_then(|instance| instance.tasks.into_iter().next())
        .map(|task| task.status);
    assert_eq!(
        task.as_deref(),
        Some("APPROVED"),
        "the decision reached Feishu"
    );
    assert!(
        bridge.failure_records().await.is_empty(),
        "the failure queue is empty"
    );
    let events = bridge.decision_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["detail"]["decision_id"],
        "po-4001/manager/0/APPROVE"
    );
}
