//! One decision on a bot card, from the approver's tap to Feishu and the company's system.

use std::time::Duration;

use feishu_sim::Tap;

use crate::stack::{Bridge, BridgeOptions, approver, eventually, instance_json};

/// How long a decision may take to reach Feishu and the event bus.
const SETTLE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_on_a_bot_card_reaches_feishu_and_the_event_bus() {
    decide_on_the_card("APPROVE", "APPROVED").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_on_a_bot_card_reaches_feishu_and_the_event_bus() {
    decide_on_the_card("REJECT", "REJECTED").await;
}

/// Registers a definition, pushes an instance with one pending task and `notify`, taps
/// `action` on the card the approver got, and follows the decision to the end.
async fn decide_on_the_card(action: &str, status: &str) {
    let bridge = Bridge::start(BridgeOptions::default()).await;
    let approval_code = bridge.register("E2E_PURCHASE").await;
    assert_ne!(
        approval_code, "E2E_PURCHASE",
        "Feishu assigns its own approval code"
    );

    let instance = instance_json(&approval_code, "po-1001", &["manager"]);
    bridge.push(&instance, true).await;
    let card = bridge
        .card("po-1001", "manager")
        .expect("the approver got a bot card");
    assert_eq!(card.template_id, "1008");
    assert_eq!(card.user_id.as_deref(), Some(approver("manager").as_str()));
    assert_eq!(card.status, "PENDING");
    let callback = card
        .action_callback
        .clone()
        .expect("quick-approval buttons");
    let callback_url = callback["action_callback_url"]
        .as_str()
        .expect("a callback URL")
        .to_owned();
    assert_eq!(callback_url, bridge.callback_url());
    assert_eq!(callback["action_callback_token"], bridge.callback_token());

    // What Feishu posts when the approver taps the button on the card.
    let (url, body) = bridge.tap(
        "po-1001",
        "manager",
        &Tap::new(action, &approval_code).with_reason("looks right"),
    );
    assert_eq!(url, callback_url);
    let (http_status, answer) = bridge.post(&callback_url, body).await;
    assert_eq!(http_status, 200, "callback answer: {answer}");
    assert_eq!(answer["code"], 0);

    eventually("the card to show the decision", SETTLE, || async {
        let card = bridge.card("po-1001", "manager")?;
        (card.status == status).then_some(())
    })
    .await;
    let synced = eventually("the instance to be re-synced", SETTLE, || async {
        let state = bridge.sim.handle().state();
        let synced = state
            .instances
            .into_iter()
            .find(|instance| instance.instance_id == "po-1001")?;
        (synced.status == status).then_some(synced)
    })
    .await;
    assert_eq!(synced.approval_code, approval_code);
    assert_eq!(synced.tasks.len(), 1);
    assert_eq!(synced.tasks[0].task_id, "manager");
    assert_eq!(synced.tasks[0].status, status);

    let event = eventually("the decision event", SETTLE, || async {
        bridge.decision_events().await.into_iter().next()
    })
    .await;
    assert_eq!(event["source"], "feishu-approval-bridge");
    let detail = &event["detail"];
    assert_eq!(detail["action"], action, "{detail}");
    assert_eq!(detail["instance_id"], "po-1001");
    assert_eq!(detail["task_id"], "manager");
    assert_eq!(detail["user_id"], approver("manager"));
    assert_eq!(detail["instance_status"], status);
    assert_eq!(detail["message_id"], card.message_id.as_str());
    assert_eq!(detail["reason"], "looks right");
    assert_eq!(
        detail["action_context"], "po-1001/manager",
        "the task's own action_context, not the card's"
    );
    assert_eq!(
        detail["decision_id"],
        "po-1001/manager/0/".to_owned() + action
    );

    let stats = bridge.lambda_async.wait_until_idle(SETTLE).await;
    assert_eq!((stats.accepted, stats.succeeded, stats.failed), (1, 1, 0));
    assert!(bridge.failure_records().await.is_empty());
    assert_eq!(
        bridge.decision_events().await.len(),
        1,
        "one event per decision"
    );
}
