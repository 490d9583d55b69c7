//! Single decisions under deterministic Feishu faults: each pins one way a decision could be lost
//! or applied twice (the burst test finds them at random).

use std::time::Duration;

use feishu_sim::{FaultCommand, FaultKind, FaultRule, Tap};
use serde_json::Value;

use crate::stack::{Bridge, BridgeOptions, instance_json};

/// How long a decision may take, Lambda retries included.
const SETTLE: Duration = Duration::from_secs(60);
const UPDATE_MESSAGE_PATH: &str = "/open-apis/approval/v1/message/update";
const INSTANCE_PATH: &str = "/open-apis/approval/v4/external_instances";

/// A bridge with one pending task `manager` on instance `instance_id`, its card sent; returns
/// the encrypted Approve callback of that card.
async fn one_pending_card(bridge: &Bridge, instance_id: &str) -> String {
    let approval_code = bridge.register("E2E_FAULTS").await;
    bridge
        .push(
            &instance_json(&approval_code, instance_id, &["manager"]),
            true,
        )
        .await;
    let (_, body) = bridge.tap(instance_id, "manager", &Tap::new("APPROVE", &approval_code));
    body
}

/// Waits until the sync jobs are done; then the card, the synced task and the events.
async fn outcome(bridge: &Bridge, instance_id: &str) -> (String, String, Vec<Value>) {
    let stats = bridge.lambda_async.wait_until_idle(SETTLE).await;
    assert_eq!(stats.pending, 0, "{stats:?}");
    let card = bridge.card(instance_id, "manager").expect("a card").status;
    let task = bridge
        .sim
        .handle()
        .state()
        .instances
        .into_iter()
        .find(|instance| instance.instance_id == instance_id)
        .and_then(|instance| instance.tasks.into_iter().next())
        .map(|task| task.status)
        .unwrap_or_default();
    (card, task, bridge.decision_events().await)
}

/// The successful card updates Feishu received.
fn card_updates(bridge: &Bridge) -> usize {
    bridge
        .sim
        .handle()
        .requests_to(UPDATE_MESSAGE_PATH)
        .iter()
        .filter(|request| request.http_status == 200 && request.code == 0)
        .count()
}

fn rule(path: &str, kind: FaultKind, count: u32, delay_ms: u64) -> FaultCommand {
    FaultCommand::Rule(FaultRule {
        path: Some(path.to_owned()),
        kind,
        count,
        reset_secs: 1,
        delay_ms,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_during_the_card_update_do_not_leave_the_card_pending() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let approve = one_pending_card(&bridge, "po-3001").await;
    // The update fails with a revoked token twice in a row (the token is refreshed in between).
    bridge
        .sim
        .handle()
        .inject_fault(rule(UPDATE_MESSAGE_PATH, FaultKind::TokenInvalid, 2, 0));

    let (status, _) = bridge.post(&bridge.callback_url(), approve).await;
    assert_eq!(status, 200);
    let (card, task, events) = outcome(&bridge, "po-3001").await;
    assert_eq!(task, "APPROVED");
    assert_eq!(events.len(), 1);
    assert_eq!(
        card, "APPROVED",
        "the approver's card still offers Approve/Reject"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_retried_after_a_failed_instance_push_updates_the_card_once() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let approve = one_pending_card(&bridge, "po-3002").await;
    // Every attempt of the first job's instance push fails; its card update succeeds. Lambda
    // retries the job.
    bridge
        .sim
        .handle()
        .inject_fault(rule(INSTANCE_PATH, FaultKind::Http500, 4, 0));

    let (status, _) = bridge.post(&bridge.callback_url(), approve).await;
    assert_eq!(status, 200);
    let (card, task, events) = outcome(&bridge, "po-3002").await;
    assert_eq!((card.as_str(), task.as_str()), ("APPROVED", "APPROVED"));
    assert_eq!(events.len(), 1);
    assert!(bridge.lambda_async.stats().runs >= 2, "the job was retried");
    assert_eq!(card_updates(&bridge), 1, "the card was updated again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_duplicate_callbacks_update_the_card_once() {
    let bridge = Bridge::start(BridgeOptions {
        concurrency: 2,
        ..BridgeOptions::default()
    })
    .await;
    let approve = one_pending_card(&bridge, "po-3003").await;
    // A slow Feishu keeps both deliveries of a double tap in flight together.
    bridge
        .sim
        .handle()
        .inject_fault(rule(UPDATE_MESSAGE_PATH, FaultKind::Slow, 2, 1500));

    let url = bridge.callback_url();
    let (first, second) = tokio::join!(
        bridge.post(&url, approve.clone()),
        bridge.post(&url, approve)
    );
    assert_eq!((first.0, second.0), (200, 200));
    let (card, task, events) = outcome(&bridge, "po-3003").await;
    let stats = bridge.lambda_async.stats();
    assert_eq!(stats.succeeded, 2);
    assert_eq!(
        stats.max_running, 2,
        "the two sync jobs did not overlap, so this test proved nothing"
    );
    assert_eq!((card.as_str(), task.as_str()), ("APPROVED", "APPROVED"));
    // Events are at least once; consumers deduplicate on the stable decision id.
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|event| event["detail"]["decision_id"] == "po-3003/manager/0/APPROVE")
    );
    assert_eq!(card_updates(&bridge), 1, "both deliveries updated the card");
}
