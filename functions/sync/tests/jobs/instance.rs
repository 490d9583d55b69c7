//! Instance jobs (with and without bot cards) against a wiremock Feishu.

use approval_sync::cards::card_uuid;
use approval_sync::summary::InstanceSummary;
use approval_sync::{SyncSettings, SyncSummary};
use feishu_bridge::ids::MessageId;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::tap_context::TapContext;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use feishu_bridge::store::InstanceStore;

use crate::helpers::*;

fn instance_summary(summary: SyncSummary) -> InstanceSummary {
    match summary {
        SyncSummary::Instance(summary) => summary,
        other => panic!("expected an instance summary, got {other:?}"),
    }
}

fn instance_job(update_time: u64, tasks: &[(&str, &str)], notify: bool) -> Value {
    json!({
        "type": "instance",
        "instance": instance_json("i-1", update_time, tasks),
        "notify": notify
    })
}

#[tokio::test]
async fn a_newer_instance_is_pushed_and_stored() {
    let server = feishu().await;
    let service = service(&server);
    let summary = instance_summary(
        run(&service, instance_job(START, &[("t1", "PENDING")], false))
            .await
            .unwrap(),
    );
    assert_eq!(serde_json::to_value(&summary).unwrap()["outcome"], "synced");
    // Feishu gets the instance whole, versioned by the bridge's own push version; the base
    // keeps the company's instance exactly as sent, versioned by the company.
    let pushes = bodies(&server, INSTANCE_PATH).await;
    assert_eq!(pushes.len(), 1);
    let mut expected = instance_json("i-1", START, &[("t1", "PENDING")]);
    expected["update_time"] = pushes[0]["update_time"].clone();
    expected["update_mode"] = "REPLACE".into();
    // Each task's context names the task's version, the company's own inside it.
    expected["task_list"][0]["action_context"] = TapContext {
        instance_id: "i-1".to_owned(),
        task_id: "t1".to_owned(),
        task_context: Some("ctx-t1".to_owned()),
        task_version: Some(feishu_bridge::models::time::UnixMillis::ZERO),
    }
    .encode()
    .into();
    assert_eq!(pushes[0], expected);
    assert!(millis(&pushes[0]["update_time"]) > START);
    let records = service.store().load("i-1").await.unwrap();
    assert_eq!(
        serde_json::to_value(&records.base.as_ref().unwrap().instance).unwrap(),
        instance_json("i-1", START, &[("t1", "PENDING")])
    );
    let head = records.head.unwrap();
    assert_eq!(head.company_version.as_millis(), START);
    assert_eq!(head.pushed_seq, 1);
    assert!(bodies(&server, SEND_PATH).await.is_empty());
}

#[tokio::test]
async fn a_decision_taken_while_the_instance_was_pushed_reaches_feishu() {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    mount_echo(&server, Some(std::time::Duration::from_millis(40))).await;
    let service = service(&server);
    let job = instance_job(START, &[("t1", "PENDING"), ("t2", "PENDING")], false);

    // An approver acts from the list on the instance while its push is on its way.
    let approve = decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"}));
    let (instance, decided) = tokio::join!(run(&service, job), async {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        run(&service, approve).await
    });
    instance.unwrap();
    decided.unwrap();

    let pushes = bodies(&server, INSTANCE_PATH).await;
    let last = pushes.last().unwrap();
    assert_eq!(task_status(last, "t1"), "APPROVED");
    assert_eq!(task_status(last, "t2"), "PENDING");
    let records = service.store().load("i-1").await.unwrap();
    let base = &records.base.as_ref().unwrap().instance;
    assert_eq!(
        base.task("t1").unwrap().status.as_str(),
        "PENDING",
        "the base stays as the company sent it"
    );
}

#[tokio::test]
async fn a_stale_instance_is_not_stored_and_pushes_the_stored_one_again() {
    let server = feishu().await;
    let service = service(&server);
    run(
        &service,
        instance_job(START + 10, &[("t1", "APPROVED")], false),
    )
    .await
    .unwrap();

    // A stale job writes nothing, but pushes the stored state once more: it may be a Lambda
    // retry of a job whose first push landed behind a later one.
    for (update_time, pushes) in [(START + 5, 1), (START + 10, 1)] {
        let summary = instance_summary(
            run(
                &service,
                instance_job(update_time, &[("t1", "PENDING")], false),
            )
            .await
            .unwrap(),
        );
        let summary = serde_json::to_value(&summary).unwrap();
        assert_eq!(summary["outcome"], "stale");
        assert_eq!(summary["company_version"], (START + 10).to_string());
        assert_eq!(summary["calls"].as_array().unwrap().len(), pushes);
    }
    let pushes = bodies(&server, INSTANCE_PATH).await;
    assert_eq!(pushes.len(), 3);
    assert!(
        pushes
            .iter()
            .all(|push| task_status(push, "t1") == "APPROVED"),
        "only the stored version is pushed"
    );
    let records = service.store().load("i-1").await.unwrap();
    assert_eq!(
        records.base.unwrap().instance.update_time.as_millis(),
        START + 10
    );
}

#[tokio::test]
async fn an_invalid_or_partial_instance_is_refused_before_any_call() {
    let server = feishu().await;
    let service = service(&server);
    let mut job = instance_job(START, &[("t1", "PENDING")], false);
    job["instance"]["update_mode"] = "UPDATE".into();
    let error = run(&service, job).await.unwrap_err();
    assert_eq!(error.error_type(), "InvalidJob");

    let mut job = instance_job(START, &[("t1", "PENDING")], false);
    job["instance"]["title"] = "@i18n@undefined".into();
    let error = run(&service, job).await.unwrap_err();
    assert_eq!(error.error_type(), "InvalidJob");
    assert!(error.to_string().contains("@i18n@undefined"), "{error}");
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn notify_sends_one_card_per_new_pending_task_and_list_decisions_update_it() {
    let server = feishu().await;
    let service = service(&server);
    let tasks = [("t1", "PENDING"), ("t2", "PENDING"), ("t3", "APPROVED")];

    let summary = instance_summary(
        run(&service, instance_job(START, &tasks, true))
            .await
            .unwrap(),
    );

    let sends = bodies(&server, SEND_PATH).await;
    assert_eq!(sends.len(), 2, "one card per pending task");
    for (card, task_id) in sends.iter().zip(["t1", "t2"]) {
        assert_eq!(card["template_id"], "1008");
        assert_eq!(card["user_id"], format!("approver-{task_id}"));
        assert_eq!(card["uuid"], card_uuid("i-1", task_id, UnixMillis::ZERO));
        assert_eq!(card["approval_name"], "@i18n@approval_name");
        assert_eq!(card["title_user_id"], "initiator");
        assert_eq!(
            card["content"]["summaries"],
            json!([{"summary": "@i18n@summary_0"}])
        );
        assert_eq!(
            card["i18n_resources"],
            json!([{
                "locale": "zh-CN", "is_default": true,
                "texts": {"@i18n@approval_name": "采购申请", "@i18n@summary_0": "金额: 1000 元"}
            }])
        );
        assert_eq!(
            card["actions"],
            json!([{
                "action_name": "DETAIL",
                "url": format!("https://erp.example.com/pc/{task_id}"),
                "android_url": format!("https://erp.example.com/m/{task_id}"),
                "ios_url": format!("https://erp.example.com/m/{task_id}"),
                "pc_url": format!("https://erp.example.com/pc/{task_id}")
            }])
        );
        // The card's context names its instance, task and task version, so a tap resolves even
        // when the card's id is unknown and says which version it was made on; the task's own
        // context is handed on in events.
        let context =
            TapContext::decode(card["action_callback"]["action_context"].as_str().unwrap())
                .unwrap();
        assert_eq!(
            context,
            TapContext {
                instance_id: "i-1".to_owned(),
                task_id: task_id.to_owned(),
                task_context: Some(format!("ctx-{task_id}")),
                task_version: Some(feishu_bridge::models::time::UnixMillis::ZERO),
            }
        );
        assert_eq!(card["action_callback"]["action_callback_url"], CALLBACK_URL);
        assert_eq!(
            card["action_callback"]["action_callback_token"],
            CALLBACK_TOKEN
        );
        assert_eq!(
            card["action_configs"],
            json!([{"action_type": "APPROVE"}, {"action_type": "REJECT"}])
        );
    }
    assert_eq!(summary.cards_sent.len(), 2);
    let t1_card =
        MessageId::parse(&message_id_for(&card_uuid("i-1", "t1", UnixMillis::ZERO))).unwrap();
    let records = service.store().load("i-1").await.unwrap();
    let card_of = |task_id: &str| {
        records
            .cards
            .iter()
            .find(|card| card.task_id == task_id)
            .and_then(|card| card.message_id.clone())
    };
    assert_eq!(card_of("t1"), Some(t1_card.clone()));
    assert!(card_of("t2").is_some());
    let card_ref = service.store().find_card(&t1_card).await.unwrap().unwrap();
    assert_eq!(
        (card_ref.instance_id.as_str(), card_ref.task_id.as_str()),
        ("i-1", "t1")
    );

    // The same job again (e.g. a retry) sends nothing.
    let again = instance_summary(
        run(&service, instance_job(START, &tasks, true))
            .await
            .unwrap(),
    );
    assert!(again.cards_sent.is_empty());
    assert_eq!(bodies(&server, SEND_PATH).await.len(), 2);

    // A decision from the Approval Center list carries no message id: the card is still updated.
    run(
        &service,
        decision(json!({"instance_id": "i-1", "task_id": "t1", "action": "APPROVE"})),
    )
    .await
    .unwrap();
    assert_eq!(
        bodies(&server, UPDATE_PATH).await,
        [json!({"message_id": t1_card.as_str(), "status": "APPROVED"})]
    );
    // A card callback carrying only the message id resolves to the task through the card index.
    let t2_card = card_of("t2").unwrap();
    run(
        &service,
        decision(json!({
            "message_id": t2_card.as_str(), "action": "REJECT", "user_id": "approver-t2"
        })),
    )
    .await
    .unwrap();
    let last_push = bodies(&server, INSTANCE_PATH).await.pop().unwrap();
    assert_eq!(task_status(&last_push, "t1"), "APPROVED");
    assert_eq!(task_status(&last_push, "t2"), "REJECTED");
    let events = service.publisher().events();
    assert_eq!(events[1].decision_id, "i-1/t2/0/REJECT");
}

#[tokio::test]
async fn a_retried_notify_sends_only_the_missing_cards_with_the_same_uuid() {
    let server = MockServer::start().await;
    mount_token(&server, "t-1").await;
    Mock::given(method("POST"))
        .and(path(SEND_PATH))
        .and(body_partial_json(json!({"user_id": "approver-t2"})))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({
            "code": 2200, "msg": "internal error"
        })))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_echo(&server, None).await;
    let service = service(&server);
    let job = instance_job(START, &[("t1", "PENDING"), ("t2", "PENDING")], true);

    let error = run(&service, job.clone()).await.unwrap_err();
    assert_eq!(error.error_type(), "FeishuTransient");
    let records = service.store().load("i-1").await.unwrap();
    let sent = |task_id: &str| {
        records
            .cards
            .iter()
            .any(|card| card.task_id == task_id && card.sent)
    };
    assert!(sent("t1"), "the card sent is recorded");
    assert!(!sent("t2"));

    let retry = instance_summary(run(&service, job).await.unwrap());
    assert_eq!(serde_json::to_value(&retry).unwrap()["outcome"], "stale");
    let sent: Vec<_> = retry
        .cards_sent
        .iter()
        .map(|card| card.task_id.as_str())
        .collect();
    assert_eq!(sent, ["t2"]);
    let sends = bodies(&server, SEND_PATH).await;
    let t1_sends = sends
        .iter()
        .filter(|card| card["user_id"] == "approver-t1")
        .count();
    assert_eq!(t1_sends, 1, "t1's card is not sent again");
    let t2_uuids: Vec<_> = sends
        .iter()
        .filter(|card| card["user_id"] == "approver-t2")
        .map(|card| card["uuid"].clone())
        .collect();
    assert_eq!(t2_uuids.len(), 4, "three failed attempts and the retry");
    assert!(
        t2_uuids
            .iter()
            .all(|uuid| *uuid == card_uuid("i-1", "t2", UnixMillis::ZERO))
    );
    // The retry cannot tell whether its first push landed last, so it pushes the latest again.
    assert_eq!(bodies(&server, INSTANCE_PATH).await.len(), 2);
    // An earlier attempt may have delivered t2's card, and Feishu answers a repeated uuid with
    // the first id, no id or a new one: the answer's id is not trusted, so no wrong card is
    // recorded. A tap on the card resolves through its context and tells its id.
    let records = service.store().load("i-1").await.unwrap();
    let t2 = records
        .cards
        .iter()
        .find(|card| card.task_id == "t2")
        .unwrap();
    assert!(t2.sent && t2.message_id.is_none());
    assert_eq!(retry.cards_sent[0].message_id, None);
}

#[tokio::test]
async fn notify_without_a_callback_url_is_a_configuration_error() {
    let server = feishu().await;
    let service = service_with(
        &server,
        SyncSettings {
            callback_url: None,
            ..settings()
        },
    );
    let error = run(&service, instance_job(START, &[("t1", "PENDING")], true))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "NotConfigured");
    assert!(error.to_string().contains("CALLBACK_URL"));
    assert!(bodies(&server, SEND_PATH).await.is_empty());
}
