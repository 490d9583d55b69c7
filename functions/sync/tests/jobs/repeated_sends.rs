//! Bot cards against feishu-sim when a send is repeated — the client retries after the answer
//! was lost, though Feishu had delivered the card — under each answer Feishu may give a
//! repeated `uuid` (`feishu-api.md` §5.1 promises only "success, delivers nothing"): the first
//! card's id, no id, or a new id. No wrong card is recorded, and the approver's tap still
//! reaches the task and settles the card.

use std::sync::Arc;
use std::time::Duration;

use approval_sync::SyncService;
use feishu_bridge::client::{ClientConfig, FeishuClient, RetryPolicy};
use feishu_bridge::clock::SystemClock;
use feishu_bridge::models::definition::ExternalApproval;
use feishu_bridge::secrets::{CredentialSource, Credentials, Secret};
use feishu_bridge::store::{InMemoryStore, InstanceStore};
use feishu_sim::{
    DuplicateUuidAnswer, FaultCommand, FaultKind, RunningSimulator, SimConfig, SimSettings,
    Simulator, Tap,
};
use serde_json::json;

use crate::helpers::*;

/// A service over feishu-sim, and the approval code the simulator assigned.
async fn bridge(
    sim: &RunningSimulator,
    config: &SimConfig,
) -> (SyncService<InMemoryStore, RecordingPublisher>, String) {
    let credentials = Arc::new(CredentialSource::fixed(Credentials {
        app_id: config.app_id.clone(),
        app_secret: Secret::new(config.app_secret.clone()),
        callback_token: Secret::new(CALLBACK_TOKEN),
        callback_key: None,
        previous_callback: None,
    }));
    let mut client_config = ClientConfig::for_base_url(sim.base_url());
    client_config.retry = RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    let feishu = FeishuClient::new(client_config, Arc::clone(&credentials)).unwrap();
    let definition: ExternalApproval = serde_json::from_value(json!({
        "approval_name": "@i18n@approval_name",
        "approval_code": "REPEATED_SENDS",
        "external": {"support_pc": true, "support_mobile": true,
                     "action_callback_url": CALLBACK_URL, "action_callback_token": CALLBACK_TOKEN},
        "viewers": [{"viewer_type": "TENANT"}],
        "i18n_resources": [{"locale": "zh-CN", "is_default": true,
                            "texts": [{"key": "@i18n@approval_name", "value": "采购申请"}]}]
    }))
    .unwrap();
    let code = feishu
        .create_approval(
            &definition,
            tokio::time::Instant::now() + Duration::from_secs(5),
        )
        .await
        .unwrap();
    let service = SyncService::new(
        feishu,
        credentials,
        InMemoryStore::new(),
        RecordingPublisher::default(),
        Arc::new(SystemClock),
        settings(),
    );
    (service, code)
}

async fn a_lost_send_answer_records_no_wrong_card(answer: DuplicateUuidAnswer) {
    let config = SimConfig {
        settings: SimSettings {
            duplicate_uuid: answer,
            ..SimSettings::default()
        },
        ..SimConfig::default()
    };
    let sim = Simulator::start(config.clone()).await.unwrap();
    let (service, code) = bridge(&sim, &config).await;
    let mut instance = instance_json("i-1", START, &[("t1", "PENDING")]);
    instance["approval_code"] = code.clone().into();
    sim.handle().inject_fault(FaultCommand::on_path(
        "/open-apis/approval/v1/message/send",
        FaultKind::AnswerLost,
        1,
    ));

    run(
        &service,
        json!({"type": "instance", "instance": instance, "notify": true}),
    )
    .await
    .unwrap();

    let delivered = sim.handle().cards();
    assert_eq!(delivered.len(), 1, "{answer:?}: one card delivered");
    let real = delivered[0].message_id.clone();
    let records = service.store().load("i-1").await.unwrap();
    let card = &records.cards[0];
    assert!(card.sent);
    assert!(
        card.message_id.is_none() || card.message_id.as_ref().map(|id| id.as_str()) == Some(&real),
        "{answer:?}: recorded {:?}, the card is {real}",
        card.message_id
    );

    // The approver taps Approve on the real card: the tap resolves through the card's context,
    // tells the card's id, and the card shows the decision.
    let callback = sim
        .handle()
        .tap(&real, &Tap::new("APPROVE", &code))
        .unwrap();
    let mut tap: serde_json::Value = serde_json::from_str(&callback.plaintext).unwrap();
    tap["type"] = "decision".into();
    tap["action"] = tap["action_type"].clone();
    tap["received_at"] = START.to_string().into();
    tap["delivery_id"] = "tap-1".into();
    run(&service, tap).await.unwrap();
    assert_eq!(
        sim.handle().card(&real).unwrap().status,
        "APPROVED",
        "{answer:?}"
    );
    let records = service.store().load("i-1").await.unwrap();
    assert_eq!(
        records.cards[0].message_id.as_ref().map(|id| id.as_str()),
        Some(real.as_str())
    );
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_lost_answer_then_the_first_id() {
    a_lost_send_answer_records_no_wrong_card(DuplicateUuidAnswer::FirstId).await;
}

#[tokio::test]
async fn a_lost_answer_then_no_id() {
    a_lost_send_answer_records_no_wrong_card(DuplicateUuidAnswer::None).await;
}

#[tokio::test]
async fn a_lost_answer_then_a_new_id() {
    a_lost_send_answer_records_no_wrong_card(DuplicateUuidAnswer::NewId).await;
}
