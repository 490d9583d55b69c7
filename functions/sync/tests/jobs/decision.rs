//! Decision jobs against a wiremock Feishu.

use std::time::Duration;

use approval_sync::summary::DecisionSummary;
use approval_sync::{InstanceStatusPolicy, SyncService, SyncSummary};
use feishu_bridge::models::instance::{ExternalInstance, InstanceStatus};
use feishu_bridge::store::{InstanceStore, Verdict};
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const MESSAGE_ID: &str = "7690275278685244603";

fn decision_summary(summary: SyncSummary) -> DecisionSummary {
    match summary {
        SyncSummary::Decision(summary) => summary,
        other => panic!("expected a decision summary, got {other:?}"),
    }
}

/// Runs a decision job with `fields` and returns its summary.
async fn decide<S: InstanceStore>(
    service: &SyncService<S, RecordingPublisher>,
    fields: Value,
) -> DecisionSummary {
    decision_summary(run(service, decision(fields)).await.unwrap())
}

#[tokio::test]
async fn decision_updates_the_card_and_replaces_the_instance_with_the_task_approved() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING"), ("t2", "PENDING")])).await;

    let summary = decide(
        &service,
        json!({
            "instance_id": "i-1", "task_id": "t1", "message_id": MESSAGE_ID,
            "action": "APPROVE", "reason": "fine"
        }),
    )
    .await;

    let updates = bodies(&server, UPDATE_PATH).await;
    assert_eq!(
        updates,
        [json!({"message_id": MESSAGE_ID, "status": "APPROVED"})]
    );
    let pushes = bodies(&server, INSTANCE_PATH).await;
    assert_eq!(pushes.len(), 1);
    let pushed = &pushes[0];
    assert_eq!(pushed["update_mode"], "REPLACE");
    assert_eq!(task_status(pushed, "t1"), "APPROVED");
    assert_eq!(task_status(pushed, "t2"), "PENDING");
    assert_eq!(pushed["status"], "PENDING");
    assert!(millis(&pushed["update_time"]) > START);
    let t1 = &pushed["task_list"][0];
    assert!(millis(&t1["update_time"]) > START);
    assert!(millis(&t1["end_time"]) > START);
    // Everything else of the instance is pushed as stored.
    assert_eq!(pushed["form"], instance_json("i-1", START, &[])["form"]);
    assert_eq!(
        pushed["i18n_resources"][0]["texts"][0]["key"],
        "@i18n@title"
    );

    let summary_json = serde_json::to_value(&summary).unwrap();
    assert_eq!(summary_json["decision_id"], "i-1/t1/0/APPROVE");
    assert_eq!(summary_json["outcome"], "applied");
    assert_eq!(summary_json["instance"], "pushed");
    assert_eq!(summary_json["event_published"], true);
    let apis: Vec<_> = summary
        .calls
        .iter()
        .map(|call| (call.api, call.code))
        .collect();
    assert_eq!(
        apis,
        [("message/update", Some(0)), ("external_instances", Some(0))]
    );

    let events = service.publisher().events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].decision_id, "i-1/t1/0/APPROVE");
    assert_eq!(events[0].instance_status, Some(InstanceStatus::Pending));
    assert_eq!(events[0].decision.reason.as_deref(), Some("fine"));
    assert!(events[0].instance_known);

    let records = service.store().load("i-1").await.unwrap();
    assert_eq!(records.accepted("t1").unwrap().action.as_str(), "APPROVE");
    let delivery = &records.deliveries[0];
    assert!(delivery.published && delivery.pushed && delivery.card_done);
    assert!(delivery.lease.is_none(), "the execution released its lease");
    let head = records.head.as_ref().unwrap();
    assert_eq!(head.pushed_seq, head.seq);
    assert_eq!(
        serde_json::to_value(records.for_feishu(InstanceStatusPolicy::Derive).unwrap()).unwrap(),
        *pushed,
        "Feishu holds exactly the instance derived from the records"
    );
}

#[tokio::test]
async fn approving_the_last_task_approves_the_instance_and_rejecting_rejects_it() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "APPROVED"), ("t2", "PENDING")])).await;
    decide(
        &service,
        json!({"instance_id": "i-1", "task_id": "t2", "action": "APPROVE"}),
    )
    .await;
    let pushed = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(pushed["status"], "APPROVED");
    assert!(millis(&pushed["end_time"]) > START);

    let server = feishu().await;
    let service = crate::helpers::service(&server);
    seed(&service, instance(&[("t1", "PENDING"), ("t2", "PENDING")])).await;
    decide(
        &service,
        json!({"instance_id": "i-1", "task_id": "t1", "action": "REJECT"}),
    )
    .await;
    let pushed = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(pushed["status"], "REJECTED");
    assert_eq!(task_status(&pushed, "t1"), "REJECTED");
    assert_eq!(
        service.publisher().events()[0].instance_status,
        Some(InstanceStatus::Rejected)
    );
}

#[tokio::test]
async fn a_duplicate_decision_calls_feishu_only_once() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING")])).await;
    let job = decision(json!({
        "instance_id": "i-1", "task_id": "t1", "message_id": MESSAGE_ID, "action": "APPROVE"
    }));
    run(&service, job.clone()).await.unwrap();
    // Lambda retries the same delivery: it only finishes what is left (nothing).
    let retry = decision_summary(run(&service, job).await.unwrap());
    // A second tap, or the same action from the Approval Center list: a delivery of its own,
    // judged a duplicate of the accepted decision, with no event of its own.
    let from_list = decide(
        &service,
        json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}),
    )
    .await;

    for summary in [&retry, &from_list] {
        let json = serde_json::to_value(summary).unwrap();
        assert_eq!(json["outcome"], "duplicate");
        assert_eq!(json["decision_id"], "i-1/t1/0/APPROVE");
        assert!(summary.calls.is_empty());
    }
    assert!(retry.event_published, "the retried delivery's event is out");
    assert!(
        !from_list.event_published,
        "a duplicate has no event of its own"
    );
    assert_eq!(bodies(&server, UPDATE_PATH).await.len(), 1);
    assert_eq!(bodies(&server, INSTANCE_PATH).await.len(), 1);
    assert_eq!(service.publisher().events().len(), 1);
}

#[tokio::test]
async fn jobs_queued_by_earlier_versions_are_deduplicated_by_task_and_action() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING")])).await;
    // Parked in the failure queue by a version without delivery ids, then redriven twice.
    let mut job = decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}));
    job.as_object_mut().unwrap().remove("delivery_id");
    let first = decision_summary(run(&service, job.clone()).await.unwrap());
    let again = decision_summary(run(&service, job).await.unwrap());

    assert_eq!(first.delivery_id, "legacy:t1/APPROVE");
    assert_eq!(
        serde_json::to_value(&again).unwrap()["outcome"],
        "duplicate"
    );
    assert_eq!(bodies(&server, INSTANCE_PATH).await.len(), 1);
    assert_eq!(service.publisher().events().len(), 1);
}

#[tokio::test]
async fn concurrent_decisions_on_two_tasks_both_reach_the_records_and_the_last_push() {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    mount_echo(&server, Some(Duration::from_millis(40))).await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING"), ("t2", "PENDING")])).await;

    let (first, second) = tokio::join!(
        run(
            &service,
            decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}))
        ),
        run(
            &service,
            decision(json!({"instance_id": "i-1", "task_id": "t2", "action": "APPROVE"}))
        ),
    );
    let outcomes: Vec<Value> = [first.unwrap(), second.unwrap()]
        .iter()
        .map(|summary| serde_json::to_value(summary).unwrap()["instance"].clone())
        .collect();

    // The first job pushed while the second took its position; the second found the push lease
    // held and left the push to the first, which found the instance moved when it let go and
    // pushed the latest state: two pushes, never overlapping.
    assert_eq!(outcomes, [json!("pushed"), json!("superseded")]);
    let pushes = bodies(&server, INSTANCE_PATH).await;
    assert_eq!(pushes.len(), 2, "{pushes:#?}");
    let approved = |push: &Value| {
        ["t1", "t2"]
            .iter()
            .filter(|task| task_status(push, task) == "APPROVED")
            .count()
    };
    assert_eq!(approved(&pushes[0]), 1);
    let last = pushes.last().unwrap();
    assert_eq!(approved(last), 2);
    assert_eq!(last["status"], "APPROVED");

    let records = service.store().load("i-1").await.unwrap();
    assert_eq!(records.decisions.len(), 2);
    assert_eq!(
        serde_json::to_value(records.for_feishu(InstanceStatusPolicy::Derive).unwrap()).unwrap(),
        *last
    );
    assert_eq!(service.publisher().events().len(), 2);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_decision_apply_it_once() {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    mount_echo(&server, Some(Duration::from_millis(40))).await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING"), ("t2", "PENDING")])).await;
    let job = decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}));
    let pushes_before = bodies(&server, INSTANCE_PATH).await.len();

    let (first, second) = tokio::join!(run(&service, job.clone()), run(&service, job));
    let (first, second) = (first.unwrap(), second.unwrap());

    assert_eq!(
        bodies(&server, INSTANCE_PATH).await.len(),
        pushes_before + 1,
        "the second execution waits for the first one's lease and changes Feishu no more"
    );
    assert_eq!(service.publisher().events().len(), 1);
    let last = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(task_status(&last, "t1"), "APPROVED");
    let records = service.store().load("i-1").await.unwrap();
    assert_eq!(records.decisions.len(), 1);
    assert_eq!(records.deliveries.len(), 1);
    let outcomes: Vec<_> = [first, second]
        .iter()
        .map(|summary| serde_json::to_value(summary).unwrap()["outcome"].clone())
        .collect();
    assert!(
        outcomes.contains(&json!("applied")) && outcomes.contains(&json!("duplicate")),
        "{outcomes:?}"
    );
    let events = service.publisher().events();
    assert_eq!(events[0].decision_id, "i-1/t1/0/APPROVE");
}

#[tokio::test]
async fn a_push_overtaken_by_a_newer_instance_is_followed_by_the_latest_state() {
    let server = feishu().await;
    // While the decision on t1 is pushed, the company's system moves the instance on: t1 was
    // reassigned to t3. The decision's push may land in Feishu after that instance's.
    let newer: ExternalInstance = serde_json::from_value(instance_json(
        "i-1",
        START + 10,
        &[("t2", "PENDING"), ("t3", "PENDING")],
    ))
    .unwrap();
    let service = service_over(&server, settings(), InterloperStore::default());
    seed(&service, instance(&[("t1", "PENDING"), ("t2", "PENDING")])).await;
    service.store().during_the_next_push(newer);

    let summary = decide(
        &service,
        json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}),
    )
    .await;

    assert_eq!(
        serde_json::to_value(&summary).unwrap()["instance"],
        "pushed"
    );
    let pushes = bodies(&server, INSTANCE_PATH).await;
    assert_eq!(pushes.len(), 2);
    assert_eq!(task_status(&pushes[0], "t1"), "APPROVED");
    let records = service.store().load("i-1").await.unwrap();
    assert_eq!(
        pushes.last(),
        Some(
            &serde_json::to_value(records.for_feishu(InstanceStatusPolicy::Derive).unwrap())
                .unwrap()
        ),
        "Feishu's last push is the latest state, not the overtaken one"
    );
    assert!(pushes[1]["task_list"].as_array().unwrap().len() == 2);
    assert!(
        records.accepted("t1").is_some(),
        "the decision stays recorded"
    );
}

#[tokio::test]
async fn a_decision_on_an_unknown_instance_updates_the_card_and_publishes_without_a_push() {
    let server = feishu().await;
    let service = service(&server);

    let summary = decide(
        &service,
        json!({"message_id": MESSAGE_ID, "action": "REJECT"}),
    )
    .await;

    assert_eq!(
        bodies(&server, UPDATE_PATH).await,
        [json!({"message_id": MESSAGE_ID, "status": "REJECTED"})]
    );
    assert!(bodies(&server, INSTANCE_PATH).await.is_empty());
    let summary_json = serde_json::to_value(&summary).unwrap();
    assert_eq!(summary_json["instance"], "not_synced");
    assert_eq!(summary_json["outcome"], "applied");
    let events = service.publisher().events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].decision_id,
        format!("message:{MESSAGE_ID}/message:{MESSAGE_ID}/0/REJECT")
    );
    assert!(!events[0].instance_known);
    // A retry is recognised as a duplicate.
    decide(
        &service,
        json!({"message_id": MESSAGE_ID, "action": "REJECT"}),
    )
    .await;
    assert_eq!(bodies(&server, UPDATE_PATH).await.len(), 1);
}

#[tokio::test]
async fn a_persistent_feishu_5xx_fails_retryably_after_recording_and_publishing() {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    Mock::given(method("POST"))
        .and(path(INSTANCE_PATH))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({
            "code": 2200, "msg": "internal error", "error": {"log_id": "LOG-5XX"}
        })))
        .mount(&server)
        .await;
    mount_echo(&server, None).await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING")])).await;

    let error = run(
        &service,
        decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"})),
    )
    .await
    .unwrap_err();

    assert!(error.is_retryable());
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "FeishuTransient");
    assert!(
        diagnostic.error_message.contains("2200"),
        "{}",
        diagnostic.error_message
    );
    assert!(
        diagnostic.error_message.contains("LOG-5XX"),
        "{}",
        diagnostic.error_message
    );
    assert!(
        bodies(&server, INSTANCE_PATH).await.len() >= 2,
        "the client retried"
    );
    // The approver's tap was taken: it is recorded and the company's system hears of it; only
    // the push is left for Lambda's retry.
    let records = service.store().load("i-1").await.unwrap();
    assert!(records.accepted("t1").is_some());
    assert!(!records.deliveries[0].pushed);
    assert_eq!(service.publisher().events().len(), 1);
}

#[tokio::test]
async fn a_rejected_token_mid_job_is_refreshed_and_the_job_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "code": 0, "msg": "ok", "tenant_access_token": "t-stale", "expire": 7200
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_token(&server, "t-fresh").await;
    for endpoint in [INSTANCE_PATH, UPDATE_PATH] {
        Mock::given(method("POST"))
            .and(path(endpoint))
            .and(header("authorization", "Bearer t-stale"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "code": 99991663, "msg": "Invalid access token for authorization"
            })))
            .with_priority(1)
            .mount(&server)
            .await;
    }
    mount_echo(&server, None).await;
    let service = service(&server);
    // Warm the token cache with the token Feishu will reject.
    service
        .feishu()
        .tenant_access_token(tokio::time::Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    seed(&service, instance(&[("t1", "PENDING")])).await;

    decide(
        &service,
        json!({
            "instance_id": "i-1", "task_id": "t1", "message_id": MESSAGE_ID, "action": "APPROVE"
        }),
    )
    .await;

    let requests = server.received_requests().await.unwrap();
    let fresh = |endpoint: &str| {
        requests.iter().any(|request| {
            request.url.path() == endpoint
                && request
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    == Some("Bearer t-fresh")
        })
    };
    assert!(fresh(INSTANCE_PATH) && fresh(UPDATE_PATH));
    let records = service.store().load("i-1").await.unwrap();
    assert!(records.accepted("t1").is_some());
}

#[tokio::test]
async fn a_custom_action_marks_the_card_processed_and_leaves_the_task() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING")])).await;

    let summary = decide(
        &service,
        json!({
            "instance_id": "i-1", "task_id": "t1", "message_id": MESSAGE_ID,
            "action": "ESCALATE"
        }),
    )
    .await;

    assert_eq!(
        bodies(&server, UPDATE_PATH).await,
        [json!({"message_id": MESSAGE_ID, "status": "PROCESSED"})]
    );
    assert!(bodies(&server, INSTANCE_PATH).await.is_empty());
    assert_eq!(
        serde_json::to_value(&summary).unwrap()["instance"],
        "unchanged"
    );
    let events = service.publisher().events();
    assert_eq!(events[0].decision_id, "i-1/t1/0/ESCALATE");
    assert_eq!(events[0].decision.action.as_str(), "ESCALATE");
    let records = service.store().load("i-1").await.unwrap();
    assert!(
        records.decisions.is_empty(),
        "a custom action takes no position"
    );
    assert!(matches!(
        records.deliveries[0].verdict,
        Verdict::Accepted { position: None, .. }
    ));
}

#[tokio::test]
async fn under_the_external_policy_a_decision_changes_only_its_task() {
    let server = feishu().await;
    let mut settings = settings();
    settings.instance_status_policy = InstanceStatusPolicy::External;
    let service = service_with(&server, settings);
    seed(&service, instance(&[("t1", "PENDING")])).await;

    decide(
        &service,
        json!({"instance_id": "i-1", "task_id": "t1", "action": "REJECT"}),
    )
    .await;

    let pushed = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(task_status(&pushed, "t1"), "REJECTED");
    assert_eq!(pushed["status"], "PENDING");
    assert_eq!(pushed["end_time"], "0");
}

#[tokio::test]
async fn a_card_update_feishu_rejects_does_not_block_the_decision() {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    Mock::given(method("POST"))
        .and(path(UPDATE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "code": 60001, "msg": "message too old", "error": {"log_id": "LOG-CARD"}
        })))
        .mount(&server)
        .await;
    mount_echo(&server, None).await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING")])).await;

    let summary = decide(
        &service,
        json!({
            "instance_id": "i-1", "task_id": "t1", "message_id": MESSAGE_ID,
            "action": "APPROVE"
        }),
    )
    .await;

    let card_call = &summary.calls[0];
    assert_eq!(card_call.api, "message/update");
    assert!(!card_call.accepted);
    assert_eq!(card_call.code, Some(60001));
    assert_eq!(card_call.log_id.as_deref(), Some("LOG-CARD"));
    assert_eq!(bodies(&server, INSTANCE_PATH).await.len(), 1);
    assert_eq!(service.publisher().events().len(), 1);
}

#[tokio::test]
async fn an_unpublished_event_is_published_by_the_retry_without_calling_feishu_again() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING")])).await;
    let job = decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}));

    service.publisher().fail(true);
    let error = run(&service, job.clone()).await.unwrap_err();
    assert_eq!(error.error_type(), "PublishFailed");
    assert!(error.is_retryable());
    let records = service.store().load("i-1").await.unwrap();
    assert!(!records.deliveries[0].published);

    service.publisher().fail(false);
    let summary = decision_summary(run(&service, job).await.unwrap());
    assert_eq!(
        serde_json::to_value(&summary).unwrap()["outcome"],
        "duplicate"
    );
    assert!(summary.event_published);
    assert_eq!(service.publisher().events().len(), 1);
    assert_eq!(bodies(&server, INSTANCE_PATH).await.len(), 1);
    let records = service.store().load("i-1").await.unwrap();
    assert!(records.deliveries[0].published);
}

#[tokio::test]
async fn an_invalid_job_fails_with_a_named_problem() {
    let server = feishu().await;
    let service = service(&server);
    let error = run(
        &service,
        json!({"type": "decision", "action": "APPROVE", "received_at": "1"}),
    )
    .await
    .unwrap_err();
    let diagnostic = Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "InvalidJob");
    assert!(
        diagnostic.error_message.contains("approval_code"),
        "{}",
        diagnostic.error_message
    );
    let error = run(&service, decision(json!({"action": "APPROVE"})))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "InvalidJob");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_message_job_updates_the_card_as_asked() {
    let server = feishu().await;
    let service = service(&server);
    let summary = run(
        &service,
        json!({"type": "message", "message_id": MESSAGE_ID, "status": "CANCELLED"}),
    )
    .await
    .unwrap();
    assert_eq!(
        bodies(&server, UPDATE_PATH).await,
        [json!({"message_id": MESSAGE_ID, "status": "CANCELLED"})]
    );
    let summary: Value = serde_json::to_value(summary).unwrap();
    assert_eq!(summary["job"], "message");
    assert_eq!(summary["calls"][0]["api"], "message/update");
    assert_eq!(summary["calls"][0]["code"], 0);
}

/// Remembers when each request arrived, and answers like Feishu after a delay.
#[derive(Clone, Default)]
struct Arrivals(std::sync::Arc<std::sync::Mutex<Vec<(String, std::time::Instant)>>>);

impl wiremock::Respond for Arrivals {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        self.0
            .lock()
            .unwrap()
            .push((request.url.path().to_owned(), std::time::Instant::now()));
        FeishuEcho
            .respond(request)
            .set_delay(Duration::from_millis(300))
    }
}

/// The gap between the arrivals of the card update and the instance push of one card tap.
async fn gap_between_card_update_and_push(calls: approval_sync::FeishuCalls) -> Duration {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    let arrivals = Arrivals::default();
    for endpoint in [INSTANCE_PATH, UPDATE_PATH] {
        Mock::given(method("POST"))
            .and(path(endpoint))
            .respond_with(arrivals.clone())
            .mount(&server)
            .await;
    }
    let service = service_with(
        &server,
        approval_sync::SyncSettings {
            feishu_calls: calls,
            ..settings()
        },
    );
    seed(&service, instance(&[("t1", "PENDING")])).await;
    service
        .feishu()
        .tenant_access_token(tokio::time::Instant::now() + Duration::from_secs(5))
        .await
        .unwrap();
    decide(
        &service,
        json!({
            "instance_id": "i-1", "task_id": "t1", "message_id": MESSAGE_ID, "action": "APPROVE"
        }),
    )
    .await;
    let arrivals = arrivals.0.lock().unwrap().clone();
    let at = |endpoint: &str| {
        arrivals
            .iter()
            .find(|(path, _)| path == endpoint)
            .map(|(_, at)| *at)
            .unwrap()
    };
    let (update, push) = (at(UPDATE_PATH), at(INSTANCE_PATH));
    update.max(push) - update.min(push)
}

#[tokio::test]
async fn the_card_update_and_the_instance_push_are_one_round_trip() {
    // Concurrent: the second request reaches Feishu before the first one is answered (300 ms).
    let concurrent = gap_between_card_update_and_push(approval_sync::FeishuCalls::Concurrent).await;
    assert!(
        concurrent < Duration::from_millis(150),
        "the calls did not overlap: {concurrent:?} apart"
    );
    // The serial baseline (the same code path, concurrency off) waits for the first answer.
    let serial = gap_between_card_update_and_push(approval_sync::FeishuCalls::Serial).await;
    assert!(serial >= Duration::from_millis(300), "{serial:?}");
}

/// Claims `i-1`'s push lease for another execution, for `lease` from now.
async fn push_lease_held_by_another_execution(service: &Service, lease: Duration) {
    let now = feishu_bridge::models::time::UnixMillis::now().as_millis();
    let other = feishu_bridge::store::Lease {
        owner: "other".to_owned(),
        until: now + u64::try_from(lease.as_millis()).unwrap(),
    };
    assert!(
        service
            .store()
            .claim_push("i-1", &other, now)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_decision_leaves_its_push_to_the_execution_pushing_the_instance() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING"), ("t2", "PENDING")])).await;
    // Another execution is pushing the instance right now; it pushes the latest state, with
    // this decision, before it lets go.
    push_lease_held_by_another_execution(&service, Duration::from_secs(60)).await;
    let holder = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let store = service.store();
        let head = store.load_head("i-1").await.unwrap().unwrap();
        assert_eq!(head.seq, 2, "the decision took the next position");
        let release = store.release_push("i-1", "other", head.seq).await.unwrap();
        assert_eq!(release, feishu_bridge::store::PushRelease::Released);
    };
    let decision = decide(
        &service,
        json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}),
    );

    let (summary, ()) = tokio::join!(decision, holder);

    assert_eq!(
        serde_json::to_value(&summary).unwrap()["instance"],
        "superseded"
    );
    assert!(bodies(&server, INSTANCE_PATH).await.is_empty());
    let records = service.store().load("i-1").await.unwrap();
    assert!(records.deliveries[0].pushed);
}

#[tokio::test]
async fn a_decision_takes_over_the_push_of_an_execution_that_died_holding_it() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING"), ("t2", "PENDING")])).await;
    push_lease_held_by_another_execution(&service, Duration::from_millis(300)).await;

    let summary = decide(
        &service,
        json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}),
    )
    .await;

    assert_eq!(
        serde_json::to_value(&summary).unwrap()["instance"],
        "pushed"
    );
    let pushes = bodies(&server, INSTANCE_PATH).await;
    assert_eq!(pushes.len(), 1);
    assert_eq!(task_status(&pushes[0], "t1"), "APPROVED");
    let head = service.store().load_head("i-1").await.unwrap().unwrap();
    assert_eq!((head.pushed_seq, head.push_lease), (head.seq, None));
}

#[tokio::test]
async fn a_push_lease_held_past_the_deadline_fails_the_decision_for_a_retry() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING"), ("t2", "PENDING")])).await;
    push_lease_held_by_another_execution(&service, Duration::from_secs(60)).await;
    let invocation_ends =
        tokio::time::Instant::now() + service.settings().deadline_margin + Duration::from_secs(1);
    let job = decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}));

    let error = approval_sync::handle_job(
        approval_sync::parse_job(sign(job)).unwrap(),
        &service,
        Some(invocation_ends),
    )
    .await
    .unwrap_err();

    assert_eq!(error.error_type(), "PushInFlight");
    assert!(error.is_retryable());
    assert!(bodies(&server, INSTANCE_PATH).await.is_empty());
    let records = service.store().load("i-1").await.unwrap();
    assert!(!records.deliveries[0].pushed, "the retry pushes");
    assert!(records.deliveries[0].published, "the event does not wait");
}

/// A decision job the callback function did not make — no proof, a proof of another job (the
/// job changed after signing), or one made under a pair that is not configured — is refused
/// before anything is read or written: no record, no Feishu call, no event, and an error of its
/// own that Lambda's retries cannot change.
#[tokio::test]
async fn a_decision_job_the_callback_function_did_not_make_changes_nothing() {
    let server = feishu().await;
    let service = service(&server);
    seed(&service, instance(&[("t1", "PENDING")])).await;
    let before = service.store().load("i-1").await.unwrap();
    let unsigned = decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}));
    let mut changed = sign(decision(
        json!({"instance_id": "i-1", "task_id": "t1", "action": "REJECT"}),
    ));
    changed["action"] = "APPROVE".into();
    let foreign = testkit::sign_job(unsigned.clone(), "another-token", None);

    for job in [unsigned, changed, foreign] {
        let error = approval_sync::handle_job(
            approval_sync::parse_job(job.clone()).unwrap(),
            &service,
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(error.error_type(), "UnprovenDecision", "{job}");
        assert!(!error.is_retryable());
        let message = error.to_string();
        assert!(
            !message.contains("approver-t1") && !message.contains("i-1"),
            "the error echoes the job: {message}"
        );
    }
    assert_eq!(service.store().load("i-1").await.unwrap(), before);
    assert!(bodies(&server, INSTANCE_PATH).await.is_empty());
    assert!(bodies(&server, UPDATE_PATH).await.is_empty());
    assert!(service.publisher().events().is_empty() && service.publisher().refusals().is_empty());
}

/// During a rotation of the callback token and key the sync function takes proofs made under
/// the previous pair too (a job the callback signed just before the secret changed), and no
/// longer once the previous pair is dropped from the secret.
#[tokio::test]
async fn proofs_under_the_previous_callback_pair_verify_until_it_is_dropped() {
    let server = feishu().await;
    let credentials = |previous: Option<&str>| {
        std::sync::Arc::new(feishu_bridge::secrets::CredentialSource::fixed(
            feishu_bridge::secrets::Credentials {
                app_id: "cli_test".to_owned(),
                app_secret: feishu_bridge::secrets::Secret::new("app-secret"),
                callback_token: feishu_bridge::secrets::Secret::new("new-token"),
                callback_key: Some(feishu_bridge::secrets::Secret::new("new-key")),
                previous_callback: previous.map(|token| feishu_bridge::secrets::CallbackPair {
                    token: feishu_bridge::secrets::Secret::new(token),
                    key: None,
                }),
            },
        ))
    };
    let old_job = || {
        testkit::sign_job(
            decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"})),
            CALLBACK_TOKEN,
            None,
        )
    };
    let rotating = service_with_credentials(&server, credentials(Some(CALLBACK_TOKEN)));
    seed(&rotating, instance(&[("t1", "PENDING")])).await;
    let summary = approval_sync::handle_job(
        approval_sync::parse_job(old_job()).unwrap(),
        &rotating,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        decision_summary(summary).outcome,
        approval_sync::summary::DecisionOutcome::Applied
    );

    let rotated = service_with_credentials(&server, credentials(None));
    seed(&rotated, instance(&[("t1", "PENDING")])).await;
    let error =
        approval_sync::handle_job(approval_sync::parse_job(old_job()).unwrap(), &rotated, None)
            .await
            .unwrap_err();
    assert_eq!(error.error_type(), "UnprovenDecision");
}
