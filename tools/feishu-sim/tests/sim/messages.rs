//! Approval bot cards: message/send and message/update (feishu-api.md §5).

use std::time::Duration;

use feishu_sim::{DuplicateUuidAnswer, SimConfig, SimSettings};
use serde_json::json;

use crate::helpers::{SEND, Sim, UPDATE, send_body};

fn message_id(answer: &crate::helpers::Answer) -> String {
    answer.body["data"]["message_id"]
        .as_str()
        .expect("message_id is a string")
        .to_owned()
}

#[tokio::test]
async fn send_returns_a_big_string_id_and_stores_a_pending_card() {
    let sim = Sim::start().await;
    let answer = sim.api(SEND, &send_body(None)).await;
    assert_eq!(
        (answer.status, answer.code(), answer.msg()),
        (200, 0, "success")
    );
    let id = message_id(&answer);
    assert_eq!(id.len(), 19);
    let numeric: u64 = id.parse().expect("decimal id");
    assert!(numeric > 1 << 53, "above the float-safe range");

    let cards = sim.running.handle().state().messages;
    assert_eq!(cards.len(), 1);
    let card = &cards[0];
    assert_eq!(
        (card.message_id.as_str(), card.template_id.as_str()),
        (id.as_str(), "1008")
    );
    assert_eq!(
        (card.user_id.as_deref(), card.status.as_str()),
        (Some("approver"), "PENDING")
    );
    assert_eq!(
        card.action_callback
            .as_ref()
            .map(|c| c["action_context"].clone()),
        Some(json!("PR-1"))
    );
    assert_eq!(card.action_configs.len(), 2);
}

#[tokio::test]
async fn same_uuid_within_an_hour_returns_the_same_message_and_delivers_nothing() {
    let sim = Sim::start().await;
    let first = message_id(&sim.api(SEND, &send_body(Some("uuid-1"))).await);
    let again = sim.api(SEND, &send_body(Some("uuid-1"))).await;
    assert_eq!(again.code(), 0);
    assert_eq!(message_id(&again), first);
    let cards = sim.running.handle().state().messages;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].duplicate_sends, 1);

    let other = message_id(&sim.api(SEND, &send_body(Some("uuid-2"))).await);
    assert_ne!(other, first);

    sim.running
        .handle()
        .advance_clock(Duration::from_secs(3601));
    let later = message_id(&sim.api(SEND, &send_body(Some("uuid-1"))).await);
    assert_ne!(later, first);
    assert_eq!(sim.running.handle().state().messages.len(), 3);
}

#[tokio::test]
async fn a_repeated_uuid_can_be_answered_without_a_message_id() {
    let sim = Sim::start_with(SimConfig {
        settings: SimSettings {
            duplicate_uuid: DuplicateUuidAnswer::None,
            ..SimSettings::default()
        },
        ..SimConfig::default()
    })
    .await;
    let first = message_id(&sim.api(SEND, &send_body(Some("uuid-1"))).await);
    let again = sim.api(SEND, &send_body(Some("uuid-1"))).await;
    assert_eq!(
        (again.status, again.code(), again.msg()),
        (200, 0, "success")
    );
    assert_eq!(again.body["data"], json!({}), "success, but no message_id");
    let cards = sim.running.handle().cards();
    assert_eq!(cards.len(), 1);
    assert_eq!(
        (cards[0].message_id.as_str(), cards[0].duplicate_sends),
        (first.as_str(), 1)
    );
}

#[tokio::test]
async fn a_repeated_uuid_can_be_answered_with_a_new_id_that_names_no_card() {
    let sim = Sim::start().await;
    let (status, settings) = sim
        .admin(
            "POST",
            "/_sim/settings",
            Some(&json!({"duplicate_uuid": "new_id"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        settings,
        json!({"duplicate_uuid": "new_id", "check_batch_limit": null, "rate_limits": null})
    );

    let first = message_id(&sim.api(SEND, &send_body(Some("uuid-1"))).await);
    let ghost = message_id(&sim.api(SEND, &send_body(Some("uuid-1"))).await);
    assert_ne!(ghost, first);
    assert_eq!(ghost.len(), 19);
    let cards = sim.running.handle().cards();
    assert_eq!(cards.len(), 1, "nothing delivered");
    assert_eq!(cards[0].duplicate_message_ids, std::slice::from_ref(&ghost));

    let update = sim
        .api(UPDATE, &json!({"message_id": ghost, "status": "APPROVED"}))
        .await;
    assert_eq!(
        (update.code(), update.msg()),
        (60_001, "message not found error")
    );
    // Later cards never reuse the ghost id.
    let next = message_id(&sim.api(SEND, &send_body(Some("uuid-2"))).await);
    assert!(next != ghost && next != first);

    // Back to the first id at run time, through the handle.
    let handle = sim.running.handle();
    handle.set_settings(SimSettings {
        duplicate_uuid: DuplicateUuidAnswer::FirstId,
        ..handle.settings()
    });
    let repeat = message_id(&sim.api(SEND, &send_body(Some("uuid-1"))).await);
    assert_eq!(repeat, first);
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let sim = Sim::start().await;
    for bad in [
        json!({"duplicate_uuid": "first"}),
        json!({"check_batch_limit": 0}),
        json!({"unknown": true}),
        json!({"rate_limits": {"window": "leaky"}}),
    ] {
        let (status, answer) = sim.admin("POST", "/_sim/settings", Some(&bad)).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    let (_, settings) = sim.admin("GET", "/_sim/settings", None).await;
    assert_eq!(
        settings,
        json!({"duplicate_uuid": "first_id", "check_batch_limit": null, "rate_limits": null})
    );
}

#[tokio::test]
async fn every_action_needs_all_four_urls() {
    let sim = Sim::start().await;
    for url in ["url", "android_url", "ios_url", "pc_url"] {
        let mut body = send_body(None);
        if let Some(action) = body["actions"][0].as_object_mut() {
            action.remove(url);
        }
        let answer = sim.api(SEND, &body).await;
        assert_eq!(
            (answer.status, answer.code(), answer.msg()),
            (200, 60_001, "actionUrls incomplete error"),
            "{url}"
        );
    }
    assert!(sim.running.handle().state().messages.is_empty());
}

#[tokio::test]
async fn template_fields_recipient_and_quick_approval_are_checked() {
    let sim = Sim::start().await;
    // (top-level field, new value or None to remove it, expected 60001 message)
    let cases = [
        ("template_id", None, "no TemplateId error"),
        (
            "template_id",
            Some(json!("9999")),
            "invalid TemplateId error",
        ),
        ("approval_name", None, "no ApprovalName error"),
        ("content", Some(json!({})), "no Summaries error"),
        ("user_id", None, "no UserId error"),
        (
            "template_id",
            Some(json!("1002")),
            "template 1002 does not support quick approval",
        ),
    ];
    for (field, value, expected) in cases {
        let mut body = send_body(None);
        if let Some(object) = body.as_object_mut() {
            match value {
                Some(value) => object.insert(field.to_owned(), value),
                None => object.remove(field),
            };
        }
        let answer = sim.api(SEND, &body).await;
        assert_eq!(
            (answer.status, answer.code(), answer.msg()),
            (200, 60_001, expected),
            "{field}"
        );
    }
}

#[tokio::test]
async fn i18n_texts_are_a_map_holding_every_key() {
    let sim = Sim::start().await;
    let mut body = send_body(None);
    body["i18n_resources"][0]["texts"] =
        json!([{"key": "@i18n@approval_name", "value": "采购审批"}]);
    let array = sim.api(SEND, &body).await;
    assert_eq!(
        (array.code(), array.msg()),
        (9_499, "Invalid parameter type in json: texts")
    );

    let mut body = send_body(None);
    body["note"] = json!("@i18n@note");
    let missing = sim.api(SEND, &body).await;
    assert_eq!(
        (missing.status, missing.code(), missing.msg()),
        (200, 60_001, "Default i18n has no key: @i18n@note")
    );
}

#[tokio::test]
async fn update_requires_status_and_records_history() {
    let sim = Sim::start().await;
    let id = message_id(&sim.api(SEND, &send_body(None)).await);

    let no_status = sim.api(UPDATE, &json!({"message_id": id})).await;
    assert_eq!(
        (no_status.status, no_status.code(), no_status.msg()),
        (200, 60_001, "no Status error")
    );
    let bad_status = sim
        .api(UPDATE, &json!({"message_id": id, "status": "CANCELED"}))
        .await;
    assert_eq!(bad_status.msg(), "invalid Status error");
    let unknown = sim
        .api(
            UPDATE,
            &json!({"message_id": "7000000000000009999", "status": "APPROVED"}),
        )
        .await;
    assert_eq!(
        (unknown.code(), unknown.msg()),
        (60_001, "message not found error")
    );

    let ok = sim
        .api(UPDATE, &json!({"message_id": id, "status": "APPROVED"}))
        .await;
    assert_eq!((ok.code(), message_id(&ok)), (0, id.clone()));
    let custom = sim
        .api(UPDATE, &json!({"message_id": id, "status": "CUSTOM", "status_name": "@i18n@done",
            "i18n_resources": [{"locale": "zh-CN", "is_default": true, "texts": {"@i18n@done": "已处理"}}]}))
        .await;
    assert_eq!(custom.code(), 0);

    let card = sim.running.handle().state().messages.remove(0);
    assert_eq!(card.status, "CUSTOM");
    let history: Vec<&str> = card
        .status_history
        .iter()
        .map(|c| c.status.as_str())
        .collect();
    assert_eq!(history, ["PENDING", "APPROVED", "CUSTOM"]);
    assert_eq!(
        card.status_history[2].status_name.as_deref(),
        Some("@i18n@done")
    );
}

#[tokio::test]
async fn only_template_1008_cards_within_30_days_can_be_updated() {
    let sim = Sim::start().await;
    let mut body = send_body(None);
    body["template_id"] = json!("1002");
    for quick in ["action_callback", "action_configs"] {
        body.as_object_mut().map(|o| o.remove(quick));
    }
    let other = message_id(&sim.api(SEND, &body).await);
    let refused = sim
        .api(UPDATE, &json!({"message_id": other, "status": "APPROVED"}))
        .await;
    assert_eq!(
        (refused.code(), refused.msg()),
        (60_001, "only template 1008 messages can be updated")
    );

    let card = message_id(&sim.api(SEND, &send_body(None)).await);
    sim.running
        .handle()
        .advance_clock(Duration::from_secs(31 * 24 * 3600));
    let too_old = sim
        .api(UPDATE, &json!({"message_id": card, "status": "APPROVED"}))
        .await;
    assert_eq!(too_old.code(), 60_001);
}
