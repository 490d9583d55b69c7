//! A stale tap: the company withdraws an instance after its card was sent, and the approver then
//! taps Approve on the card. The callback looks the tap up (read-only) and tells the approver at
//! once (409), while the decision still goes to the sync function, which refuses it, publishes
//! the refused event and leaves the card cancelled.

use std::time::Duration;

use feishu_sim::{Tap, TapOutcome};

use crate::stack::{Bridge, BridgeOptions, eventually, instance_json};

/// How long the sync job may take.
const SETTLE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tap_on_a_withdrawn_instance_is_answered_409_and_changes_nothing_in_feishu() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let approval_code = bridge.register("E2E_WITHDRAWN").await;
    let instance = instance_json(&approval_code, "po-3001", &["manager"]);
    bridge.push(&instance, true).await;
    let card = bridge
        .card("po-3001", "manager")
        .expect("the approver got a bot card");

    // The approver opens the card and taps Approve; Feishu's callback is on its way while the
    // company withdraws the request.
    let callback = bridge
        .sim
        .handle()
        .tap(&card.message_id, &Tap::new("APPROVE", &approval_code))
        .expect("the card has the button");
    let mut withdrawn = instance.clone();
    let version = instance["update_time"]
        .as_str()
        .and_then(|time| time.parse::<u64>().ok())
        .expect("a version")
        + 1_000;
    withdrawn["status"] = "CANCELED".into();
    withdrawn["update_time"] = version.to_string().into();
    withdrawn["end_time"] = version.to_string().into();
    bridge.push(&withdrawn, false).await;

    let (status, answer) = bridge.post(&callback.url, callback.body.clone()).await;
    assert_eq!(status, 409, "callback answer: {answer}");
    assert_eq!(
        answer,
        serde_json::json!({
            "message": "该审批已撤回 / This request was withdrawn",
            "without_prefix": "true"
        })
    );
    bridge
        .sim
        .handle()
        .settle_tap(
            &card.message_id,
            callback.tap,
            TapOutcome::from_http_status(status),
        )
        .expect("settled");

    // Handed off all the same: the sync function refuses it and says so.
    let refused = bridge
        .first_event("Approval Decision Refused", SETTLE)
        .await;
    assert_eq!(
        refused["detail"]["refusal"]["reason"],
        "instance_not_pending"
    );
    assert_eq!(refused["detail"]["refusal"]["instance_status"], "CANCELED");
    let stats = bridge.lambda_async.wait_until_idle(SETTLE).await;
    assert_eq!((stats.accepted, stats.succeeded, stats.failed), (1, 1, 0));

    eventually("the card to show the withdrawal", SETTLE, || async {
        let card = bridge.sim.handle().card(&card.message_id)?;
        (card.status == "CANCELLED").then_some(())
    })
    .await;
    let state = bridge.sim.handle().state();
    let synced = state
        .instances
        .iter()
        .find(|instance| instance.instance_id == "po-3001")
        .expect("the instance is in Feishu");
    assert_eq!(synced.status, "CANCELED");
    assert_eq!(
        synced.tasks[0].status, "PENDING",
        "the approval changed nothing in Feishu"
    );
    assert!(
        bridge
            .decision_events()
            .await
            .iter()
            .all(|event| event["detail-type"] != "Approval Decision"),
        "no decision event"
    );
}
