//! The approval lifecycle at the job level: a decided or withdrawn task cannot be decided again,
//! and every bot card shows its task's real state.

use approval_sync::cards::card_uuid;
use feishu_bridge::models::time::UnixMillis;
use serde_json::{Value, json};

use crate::helpers::*;

/// An instance job for `i-1` at company version `update_time`, with bot cards.
fn instance_job(update_time: u64, tasks: &[(&str, &str)]) -> Value {
    json!({
        "type": "instance",
        "instance": instance_json("i-1", update_time, tasks),
        "notify": true
    })
}

/// `action` on task `task_id` of `i-1` by its approver, from the Approval Center list.
fn tap(task_id: &str, action: &str) -> Value {
    decision(json!({
        "instance_id": "i-1", "task_id": task_id, "action": action,
        "user_id": format!("approver-{task_id}")
    }))
}

/// The bot card the bridge sent for `task_id` of `i-1`.
fn card_of(task_id: &str) -> String {
    message_id_for(&card_uuid("i-1", task_id, UnixMillis::ZERO))
}

/// The `outcome` of a job's summary.
fn outcome(summary: &Value) -> &str {
    summary["outcome"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_second_tap_on_a_rejected_task_is_refused_and_nothing_is_pushed() {
    let server = feishu().await;
    let service = service(&server);
    run(
        &service,
        instance_job(START, &[("t1", "PENDING"), ("t2", "PENDING")]),
    )
    .await
    .unwrap();
    run(&service, tap("t1", "REJECT")).await.unwrap();
    let pushes_before = bodies(&server, INSTANCE_PATH).await.len();

    // The card still showed buttons, or the list was stale: the approver taps Approve.
    let summary = serde_json::to_value(run(&service, tap("t1", "APPROVE")).await.unwrap()).unwrap();

    assert_eq!(outcome(&summary), "refused", "{summary}");
    assert_eq!(bodies(&server, INSTANCE_PATH).await.len(), pushes_before);
    let last = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(task_status(&last, "t1"), "REJECTED");
    assert_eq!(
        service.publisher().events().len(),
        1,
        "the rejection's event only"
    );
    let refusals = service.publisher().refusals();
    assert_eq!(refusals.len(), 1, "the late tap is published as refused");
    assert_eq!(refusals[0].refusal.reason, "task_not_pending");
    assert_eq!(
        refusals[0]
            .refusal
            .task_status
            .as_ref()
            .map(|status| status.as_str()),
        Some("REJECTED")
    );
    assert_eq!(refusals[0].decision.action.as_str(), "APPROVE");
}

#[tokio::test]
async fn a_withdrawn_instance_cancels_its_cards_and_refuses_later_taps() {
    let server = feishu().await;
    let service = service(&server);
    run(&service, instance_job(START, &[("t1", "PENDING")]))
        .await
        .unwrap();

    let mut withdrawn = instance_job(START + 1_000, &[("t1", "PENDING")]);
    withdrawn["instance"]["status"] = "CANCELED".into();
    run(&service, withdrawn).await.unwrap();

    assert_eq!(
        bodies(&server, UPDATE_PATH).await,
        [json!({"message_id": card_of("t1"), "status": "CANCELLED"})],
        "the approver's card no longer offers Approve / Reject"
    );
    let pushes_before = bodies(&server, INSTANCE_PATH).await.len();

    let late = decision(json!({
        "message_id": card_of("t1"), "action": "APPROVE", "user_id": "approver-t1"
    }));
    let summary = serde_json::to_value(run(&service, late).await.unwrap()).unwrap();

    assert_eq!(outcome(&summary), "refused", "{summary}");
    assert_eq!(bodies(&server, INSTANCE_PATH).await.len(), pushes_before);
    assert!(
        service.publisher().events().is_empty(),
        "no decision event for a withdrawn instance"
    );
    let refusals = service.publisher().refusals();
    assert_eq!(refusals[0].refusal.reason, "instance_not_pending");
    assert_eq!(refusals[0].refusal.instance_status.as_str(), "CANCELED");
}

#[tokio::test]
async fn a_task_decided_in_the_company_system_settles_its_card() {
    let server = feishu().await;
    let service = service(&server);
    run(
        &service,
        instance_job(START, &[("t1", "PENDING"), ("t2", "PENDING")]),
    )
    .await
    .unwrap();

    // The approver decided t1 in the company's own system.
    run(
        &service,
        instance_job(START + 1_000, &[("t1", "APPROVED"), ("t2", "PENDING")]),
    )
    .await
    .unwrap();

    assert_eq!(
        bodies(&server, UPDATE_PATH).await,
        [json!({"message_id": card_of("t1"), "status": "APPROVED"})]
    );
}

#[tokio::test]
async fn a_message_job_with_a_status_feishu_does_not_have_is_invalid() {
    let server = feishu().await;
    let service = service(&server);
    for job in [
        json!({"type": "message", "message_id": "7690275278685244603", "status": "FINISHED"}),
        json!({
            "type": "message", "message_id": "7690275278685244603", "status": "APPROVED",
            "status_name": "@i18n@done"
        }),
    ] {
        let error = run(&service, job.clone()).await.unwrap_err();
        assert_eq!(error.error_type(), "InvalidJob", "{job}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}
