//! Two writers, one truth: the company's instance jobs and the approvers' decisions on one
//! instance, at the job level (wiremock as Feishu, the in-memory store).

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// An instance job for `i-1` at company version `update_time`.
fn instance_job(update_time: u64, tasks: &[(&str, &str)]) -> Value {
    json!({"type": "instance", "instance": instance_json("i-1", update_time, tasks)})
}

/// The approval of task `task_id` of `i-1` by its approver, from the Approval Center list.
fn approve(task_id: &str) -> Value {
    decision(json!({
        "instance_id": "i-1", "task_id": task_id, "action": "APPROVE",
        "user_id": format!("approver-{task_id}")
    }))
}

/// Countersign (会签): `approvers` approvers decide one instance at the same moment, with
/// Feishu answering every approval call in 80 ms. No job may fail, Feishu must end with every
/// decision, and one instance must not be pushed more than twice per decision.
async fn countersign(approvers: usize) {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    mount_echo(&server, Some(Duration::from_millis(80))).await;
    let service = service(&server);
    let task_ids: Vec<String> = (1..=approvers).map(|n| format!("t{n}")).collect();
    let tasks: Vec<(&str, &str)> = task_ids.iter().map(|id| (id.as_str(), "PENDING")).collect();
    run(&service, instance_job(START, &tasks)).await.unwrap();

    let results =
        futures::future::join_all(task_ids.iter().map(|id| run(&service, approve(id)))).await;

    for (task_id, result) in task_ids.iter().zip(&results) {
        assert!(
            result.is_ok(),
            "the decision on {task_id} failed: {result:?}"
        );
    }
    let pushes = bodies(&server, INSTANCE_PATH).await;
    let decision_pushes = pushes.len() - 1;
    assert!(
        decision_pushes <= 2 * approvers,
        "{decision_pushes} pushes for {approvers} decisions"
    );
    let last = pushes.last().unwrap();
    for task_id in &task_ids {
        assert_eq!(task_status(last, task_id), "APPROVED", "{task_id}");
    }
    assert_eq!(last["status"], "APPROVED");
    assert_eq!(service.publisher().events().len(), approvers);
}

#[tokio::test]
async fn countersign_of_eight_approvers_at_once_loses_nothing() {
    countersign(8).await;
}

#[tokio::test]
async fn countersign_of_twelve_approvers_at_once_loses_nothing() {
    countersign(12).await;
}

#[tokio::test]
async fn a_company_edit_made_before_a_decision_but_delivered_after_it_is_synced() {
    let server = feishu().await;
    let service = service(&server);
    let tasks = [("t1", "PENDING"), ("t2", "PENDING")];
    run(&service, instance_job(START, &tasks)).await.unwrap();
    run(&service, approve("t1")).await.unwrap();

    // The company changed the instance (version START + 1 s, long before the decision was made
    // "now") and its job reaches the bridge after the decision: it is newer than the company's
    // last version, so it is synced, and the decision keeps overlaying t1.
    let mut edited = instance_job(START + 1_000, &tasks);
    edited["instance"]["form"][0]["value"] = "@i18n@title".into();
    let summary = serde_json::to_value(run(&service, edited).await.unwrap()).unwrap();

    assert_eq!(summary["outcome"], "synced", "{summary}");
    let last = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(last["form"][0]["value"], "@i18n@title");
    assert_eq!(task_status(&last, "t1"), "APPROVED");
    assert_eq!(task_status(&last, "t2"), "PENDING");
}

#[tokio::test]
async fn a_newer_company_instance_that_has_not_seen_the_decision_keeps_it() {
    let server = feishu().await;
    let service = service(&server);
    let tasks = [("t1", "PENDING"), ("t2", "PENDING")];
    run(&service, instance_job(START, &tasks)).await.unwrap();
    run(&service, approve("t1")).await.unwrap();

    // A version from the future (the company's clock is ahead): still PENDING for t1, because
    // the company's system has not processed the decision event yet.
    let far_future = 4_000_000_000_000;
    run(&service, instance_job(far_future, &tasks))
        .await
        .unwrap();

    let last = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(task_status(&last, "t1"), "APPROVED");
    // A second tap on t1 is a duplicate of the accepted decision: no second event.
    run(&service, approve("t1")).await.unwrap();
    assert_eq!(service.publisher().events().len(), 1);
}

#[tokio::test]
async fn a_decision_is_published_even_when_feishu_refuses_the_push_permanently() {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    mount_echo(&server, None).await;
    let service = service(&server);
    run(&service, instance_job(START, &[("t1", "PENDING")]))
        .await
        .unwrap();
    Mock::given(method("POST"))
        .and(path(INSTANCE_PATH))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("x-tt-logid", "LOG-REFUSED")
                .set_body_json(json!({"code": 1390001, "msg": "param is invalid"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;

    // The approver's tap was answered with success: the company's system must hear of it even
    // though Feishu refused the push. The job still fails, with Feishu's answer.
    let job = approve("t1");
    let error = run(&service, job.clone()).await.unwrap_err();
    assert_eq!(error.error_type(), "FeishuRejected");
    let message = error.to_string();
    assert!(
        message.contains("1390001") && message.contains("LOG-REFUSED"),
        "{message}"
    );
    let events = service.publisher().events();
    assert_eq!(events.len(), 1, "the decision event is published");

    // Lambda's retry of the same job finds the decision recorded and only pushes again.
    run(&service, job).await.unwrap();
    let last = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(task_status(&last, "t1"), "APPROVED");
    assert_eq!(service.publisher().events().len(), 1);
}

#[tokio::test]
async fn a_reopened_task_accepts_a_new_decision() {
    let server = feishu().await;
    let service = service(&server);
    let tasks = [("t1", "PENDING"), ("t2", "PENDING")];
    run(&service, instance_job(START, &tasks)).await.unwrap();
    run(&service, approve("t1")).await.unwrap();

    // The company's system returns t1 to its approver: a newer instance re-opening it.
    let mut reopened = instance_job(START + 1_000, &tasks);
    reopened["reopen"] = json!(["t1"]);
    run(&service, reopened).await.unwrap();
    let last = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(task_status(&last, "t1"), "PENDING", "t1 is open again");

    // A fresh Approve is a new decision, with an event id of its own.
    let summary = serde_json::to_value(run(&service, approve("t1")).await.unwrap()).unwrap();
    assert_eq!(summary["outcome"], "applied", "{summary}");
    let last = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(task_status(&last, "t1"), "APPROVED");
    let events = service.publisher().events();
    assert_eq!(events.len(), 2);
    assert_ne!(events[0].decision_id, events[1].decision_id);
}
