//! Only Feishu decides (issue 16), end to end: a decision job nobody's callback made is refused
//! by the sync function whichever way it is invoked; a replayed callback body is one delivery;
//! an Approval Center tap made before the company re-opened the task is refused while a tap on
//! the re-opened task is accepted; and someone who is not the task's approver gets one answer,
//! whatever state the task is in.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::stack::{Bridge, BridgeOptions, approver, eventually, instance_json};

/// How long the sync jobs may take, Lambda retries included.
const SETTLE: Duration = Duration::from_secs(90);

/// The decision an attacker with `lambda:InvokeFunction` on the sync function would send: the
/// approver's own user id (not a secret), no proof.
fn forged_decision(approval_code: &str, instance_id: &str) -> Value {
    json!({
        "type": "decision",
        "approval_code": approval_code,
        "instance_id": instance_id,
        "task_id": "cfo",
        "action": "APPROVE",
        "user_id": approver("cfo"),
        "received_at": "1795248912345",
        "delivery_id": "forged-1",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_decision_invoked_on_the_sync_function_changes_nothing() {
    let bridge = Bridge::start(BridgeOptions {
        retry_delay: Duration::from_millis(200),
        ..BridgeOptions::default()
    })
    .await;
    let approval_code = bridge.register("E2E_FORGED").await;
    for instance_id in ["po-42", "po-43"] {
        bridge
            .push(&instance_json(&approval_code, instance_id, &["cfo"]), true)
            .await;
    }
    let pushes = bridge
        .sim
        .handle()
        .requests_to("/open-apis/approval/v4/external_instances")
        .len();

    // As the synchronous callers' function (`-sync-direct`) and as the asynchronous one (`-sync`).
    let (error, answer) = bridge
        .invoke(&forged_decision(&approval_code, "po-42"))
        .await;
    bridge
        .invoke_async(&forged_decision(&approval_code, "po-43"))
        .await;
    let stats = bridge.lambda_async.wait_until_idle(SETTLE).await;
    assert_eq!(stats.pending, 0, "{stats:?}");

    // Feishu, the cards and the bus are as they were.
    let handle = bridge.sim.handle();
    for instance_id in ["po-42", "po-43"] {
        let synced = handle
            .instance(instance_id)
            .expect("Feishu has the instance");
        assert_eq!(
            (synced.status.as_str(), synced.tasks[0].status.as_str()),
            ("PENDING", "PENDING"),
            "{instance_id}: the forged approval reached Feishu"
        );
        let card = bridge.card(instance_id, "cfo").expect("the cfo got a card");
        assert_eq!(card.status, "PENDING", "{instance_id}: the card changed");
        assert!(
            bridge.records(instance_id).await.deliveries.is_empty(),
            "{instance_id}: the forged decision was recorded"
        );
    }
    assert_eq!(
        handle
            .requests_to("/open-apis/approval/v4/external_instances")
            .len(),
        pushes,
        "no instance push"
    );
    assert!(
        handle
            .requests_to("/open-apis/approval/v1/message/update")
            .is_empty(),
        "no card update"
    );
    assert_eq!(bridge.decision_events().await, Vec::<Value>::new());

    // Refused with its own error, which says why and does not echo the job.
    assert!(error.is_some(), "the direct invoke succeeded: {answer}");
    assert_eq!(answer["errorType"], "UnprovenDecision", "{answer}");
    let message = answer["errorMessage"].as_str().unwrap_or_default();
    assert!(
        !message.contains(&approver("cfo")),
        "the error echoes the job: {message}"
    );
    let parked = bridge.failure_records().await;
    assert_eq!(parked.len(), 1, "the queued one is parked: {parked:?}");
    assert_eq!(
        parked[0]
            .response_payload
            .as_ref()
            .map(|payload| payload["errorType"].clone()),
        Some(json!("UnprovenDecision"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_body_is_one_delivery_and_publishes_nothing_new() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let approval_code = bridge.register("E2E_REPLAY").await;
    bridge
        .push(&instance_json(&approval_code, "po-50", &["manager"]), false)
        .await;
    let url = bridge.callback_url();
    let approve = bridge.list_tap(
        &approval_code,
        "po-50",
        "manager",
        "APPROVE",
        &approver("manager"),
    );
    let (status, answer) = bridge.post(&url, approve.clone()).await;
    assert_eq!(status, 200, "{answer}");
    bridge.lambda_async.wait_until_idle(SETTLE).await;
    // A tap the bridge refuses (the task is decided), then both captured bodies replayed.
    let reject = bridge.list_tap(
        &approval_code,
        "po-50",
        "manager",
        "REJECT",
        &approver("manager"),
    );
    for body in [&reject, &approve, &reject, &approve, &reject] {
        bridge.post(&url, body.clone()).await;
        bridge.lambda_async.wait_until_idle(SETTLE).await;
    }

    let deliveries = bridge.records("po-50").await.deliveries;
    let ids: BTreeSet<&str> = deliveries
        .iter()
        .map(|delivery| delivery.delivery_id.as_str())
        .collect();
    assert_eq!(
        (deliveries.len(), ids.len()),
        (2, 2),
        "two bodies, two deliveries: {ids:?}"
    );
    let events = bridge.decision_events().await;
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|event| event["detail-type"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["Approval Decision", "Approval Decision Refused"],
        "one event per body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_tap_from_before_a_reopen_is_refused_and_a_tap_after_it_accepted() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let approval_code = bridge.register("E2E_REOPEN").await;
    let instance = instance_json(&approval_code, "po-60", &["manager"]);
    bridge.push(&instance, false).await;
    let url = bridge.callback_url();
    let user = approver("manager");
    // Both taps as the approver's list showed the task before the re-open.
    let old_approve = bridge.list_tap(&approval_code, "po-60", "manager", "APPROVE", &user);
    let old_reject = bridge.list_tap(&approval_code, "po-60", "manager", "REJECT", &user);
    let (status, answer) = bridge.post(&url, old_approve.clone()).await;
    assert_eq!(status, 200, "{answer}");
    bridge.lambda_async.wait_until_idle(SETTLE).await;

    // The company sends the task back to its approver.
    let version = instance["update_time"]
        .as_str()
        .and_then(|time| time.parse::<u64>().ok())
        .expect("a version")
        + 1_000;
    let mut reopened = instance.clone();
    reopened["update_time"] = version.to_string().into();
    let (error, answer) = bridge
        .invoke(&json!({"type": "instance", "instance": reopened, "reopen": ["manager"]}))
        .await;
    assert_eq!(error, None, "{answer}");

    // The taps made before it: refused, whether replayed or new.
    let (status, answer) = bridge.post(&url, old_approve).await;
    assert_eq!(status, 409, "the old approval replayed: {answer}");
    bridge.lambda_async.wait_until_idle(SETTLE).await;
    let (status, answer) = bridge.post(&url, old_reject).await;
    assert_eq!(status, 409, "a rejection made before the re-open: {answer}");
    bridge.lambda_async.wait_until_idle(SETTLE).await;
    let synced = bridge.sim.handle().instance("po-60").expect("in Feishu");
    assert_eq!(
        synced.tasks[0].status, "PENDING",
        "the re-opened task waits for a new decision"
    );
    let refused = bridge
        .first_event("Approval Decision Refused", SETTLE)
        .await;
    assert_eq!(refused["detail"]["refusal"]["reason"], "stale_task_version");

    // A tap on the task as Feishu shows it now is the new decision.
    let new_reject = bridge.list_tap(&approval_code, "po-60", "manager", "REJECT", &user);
    let (status, answer) = bridge.post(&url, new_reject).await;
    assert_eq!(status, 200, "{answer}");
    bridge.lambda_async.wait_until_idle(SETTLE).await;
    eventually("the new decision in Feishu", SETTLE, || async {
        let synced = bridge.sim.handle().instance("po-60")?;
        (synced.tasks[0].status == "REJECTED").then_some(())
    })
    .await;
    let decisions: Vec<Value> = bridge
        .decision_events()
        .await
        .into_iter()
        .filter(|event| event["detail-type"] == "Approval Decision")
        .map(|event| event["detail"].clone())
        .collect();
    let ids: Vec<&str> = decisions
        .iter()
        .filter_map(|detail| detail["decision_id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "po-60/manager/0/APPROVE".to_owned(),
            format!("po-60/manager/{version}/REJECT")
        ],
        "one decision per task version"
    );
    // The company gets its own context back, not the bridge's wrapper.
    for detail in &decisions {
        assert_eq!(detail["action_context"], "po-60/manager", "{detail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_approvers_tap_gets_one_answer_whatever_the_tasks_state() {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let approval_code = bridge.register("E2E_INTRUDER").await;
    bridge
        .push(
            &instance_json(&approval_code, "po-70", &["manager", "finance"]),
            false,
        )
        .await;
    let url = bridge.callback_url();
    let approve = bridge.list_tap(
        &approval_code,
        "po-70",
        "manager",
        "APPROVE",
        &approver("manager"),
    );
    let (status, answer) = bridge.post(&url, approve).await;
    assert_eq!(status, 200, "{answer}");
    bridge.lambda_async.wait_until_idle(SETTLE).await;

    // Someone else repeats the accepted action, contradicts it, and taps the pending task.
    let mut answers = Vec::new();
    for (task_id, action) in [
        ("manager", "APPROVE"),
        ("manager", "REJECT"),
        ("finance", "APPROVE"),
    ] {
        let body = bridge.list_tap(&approval_code, "po-70", task_id, action, "someone-else");
        answers.push(bridge.post(&url, body).await);
        bridge.lambda_async.wait_until_idle(SETTLE).await;
    }
    assert_ne!(
        answers[0].0, 200,
        "no success for a non-approver: {answers:?}"
    );
    assert!(
        answers.iter().all(|answer| *answer == answers[0]),
        "the answers tell the task's state apart: {answers:?}"
    );
    let refusals: Vec<Value> = bridge
        .decision_events()
        .await
        .into_iter()
        .filter(|event| event["detail-type"] == "Approval Decision Refused")
        .map(|event| event["detail"]["refusal"]["reason"].clone())
        .collect();
    assert_eq!(refusals, vec![json!("not_the_approver"); 3]);
}
