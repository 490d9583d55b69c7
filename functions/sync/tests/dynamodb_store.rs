//! `DynamoDbStore` against moto's DynamoDB (the real wire protocol, conditional writes included).

use std::collections::BTreeSet;
use std::sync::Arc;

use approval_sync::SnapshotStore;
use approval_sync::store::dynamodb::DynamoDbStore;
use approval_sync::store::{AppliedDecision, CardRef, Snapshot, StoreError, decision_key};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use feishu_bridge::ids::MessageId;
use feishu_bridge::models::ActionType;
use feishu_bridge::models::i18n::{I18nResource, Locale};
use feishu_bridge::models::instance::{
    ActionConfig, CcItem, DisplayMethod, ExternalInstance, ExternalTask, FormItem, FormPolicy,
    GenerateType, InstanceStatus, Links, ReadStatus, TaskStatus, TrusteeshipCacheConfig,
    TrusteeshipUrls, TrusteeshipUserIdType, UpdateMode,
};
use feishu_bridge::models::time::UnixMillis;
use testkit::MotoServer;

const TABLE: &str = "approval-snapshots";

/// A bot message id above 2^53, as Feishu sends them.
const CARD_MESSAGE_ID: &str = "7234567890123456789";

/// A moto server with the snapshot table (as in template.yaml), a raw client and the store.
struct Fixture {
    // Held so the server lives as long as the test.
    _moto: MotoServer,
    client: Client,
    store: DynamoDbStore,
}

async fn fixture() -> Fixture {
    let moto = MotoServer::start().await;
    let client = Client::new(&moto.sdk_config().await);
    client
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the table");
    let store = DynamoDbStore::new(client.clone(), TABLE);
    Fixture {
        _moto: moto,
        client,
        store,
    }
}

fn links(path: &str) -> Links {
    Links {
        pc_link: Some(format!("https://approvals.example.com/pc/{path}")),
        mobile_link: Some(format!("https://approvals.example.com/m/{path}")),
    }
}

/// An instance with every field set, so a lossy round trip shows.
fn full_instance(instance_id: &str) -> ExternalInstance {
    ExternalInstance {
        approval_code: "8A3F2C4E-1B2D-4C5E-9F60-7A8B9C0D1E2F".to_owned(),
        status: InstanceStatus::Pending,
        extra: Some(r#"{"business_key":"PR-0001"}"#.to_owned()),
        instance_id: instance_id.to_owned(),
        links: links(instance_id),
        title: Some("@i18n@title".to_owned()),
        form: vec![FormItem {
            name: Some("@i18n@amount_label".to_owned()),
            value: Some("@i18n@amount_value".to_owned()),
        }],
        user_id: Some("initiator-1".to_owned()),
        user_name: Some("@i18n@initiator".to_owned()),
        open_id: Some("ou_initiator".to_owned()),
        department_id: Some("od-42".to_owned()),
        department_name: Some("@i18n@department".to_owned()),
        start_time: UnixMillis::from_millis(1_700_000_000_000),
        end_time: UnixMillis::ZERO,
        update_time: UnixMillis::from_millis(1_700_000_000_123),
        display_method: Some(DisplayMethod::Sidebar),
        update_mode: Some(UpdateMode::Replace),
        task_list: vec![ExternalTask {
            task_id: "task-1".to_owned(),
            user_id: Some("approver-1".to_owned()),
            open_id: Some("ou_approver".to_owned()),
            title: Some("@i18n@task_title".to_owned()),
            links: links("task-1"),
            status: TaskStatus::Pending,
            extra: Some(r#"{"step":1}"#.to_owned()),
            create_time: UnixMillis::from_millis(1_700_000_000_000),
            end_time: UnixMillis::ZERO,
            update_time: Some(UnixMillis::from_millis(1_700_000_000_123)),
            action_context: Some("ctx-1".to_owned()),
            action_configs: vec![
                ActionConfig {
                    action_type: ActionType::Approve,
                    action_name: Some("@i18n@approve".to_owned()),
                    is_need_reason: Some(true),
                    is_reason_required: Some(false),
                    is_need_attachment: Some(true),
                },
                ActionConfig {
                    action_type: ActionType::Other("ESCALATE".to_owned()),
                    action_name: Some("@i18n@escalate".to_owned()),
                    is_need_reason: None,
                    is_reason_required: None,
                    is_need_attachment: None,
                },
            ],
            display_method: Some(DisplayMethod::Browser),
            exclude_statistics: Some(false),
            node_id: Some("node-1".to_owned()),
            node_name: Some("@i18n@node".to_owned()),
            generate_type: Some(GenerateType::Default),
        }],
        cc_list: vec![CcItem {
            cc_id: "cc-1".to_owned(),
            user_id: Some("watcher-1".to_owned()),
            open_id: None,
            links: links("cc-1"),
            read_status: ReadStatus::Unread,
            extra: None,
            title: Some("FYI".to_owned()),
            create_time: UnixMillis::from_millis(1_700_000_000_000),
            update_time: UnixMillis::from_millis(1_700_000_000_123),
            display_method: Some(DisplayMethod::Normal),
        }],
        i18n_resources: vec![
            I18nResource::new(Locale::ZhCn, true)
                .with_text("@i18n@title", "采购申请 «PR-0001»")
                .with_text("@i18n@approve", "同意"),
            I18nResource::new(Locale::EnUs, false).with_text("@i18n@title", "Purchase request"),
        ],
        trusteeship_url_token: Some("url-token".to_owned()),
        trusteeship_user_id_type: Some(TrusteeshipUserIdType::UserId),
        trusteeship_urls: Some(TrusteeshipUrls {
            form_detail_url: Some("https://approvals.example.com/form".to_owned()),
            action_definition_url: Some("https://approvals.example.com/actions".to_owned()),
            approval_node_url: Some("https://approvals.example.com/nodes".to_owned()),
            action_callback_url: Some("https://approvals.example.com/callback".to_owned()),
            pull_business_data_url: Some("https://approvals.example.com/data".to_owned()),
        }),
        trusteeship_cache_config: Some(TrusteeshipCacheConfig {
            form_policy: Some(FormPolicy::ByNode),
            form_vary_with_locale: Some(true),
            form_version: Some("9007199254740993".to_owned()),
        }),
        resource_region: Some("cn".to_owned()),
    }
}

fn message_id(digits: &str) -> MessageId {
    MessageId::parse(digits).expect("valid message id")
}

/// A snapshot with an instance, a bot card and an applied decision.
fn full_snapshot(instance_id: &str) -> Snapshot {
    let mut snapshot = Snapshot::empty(instance_id);
    snapshot.instance = Some(full_instance(instance_id));
    snapshot
        .cards
        .insert("task-1".to_owned(), message_id(CARD_MESSAGE_ID));
    snapshot.decisions.insert(
        decision_key("task-1", &ActionType::Approve),
        AppliedDecision {
            applied_at: UnixMillis::from_millis(1_700_000_100_000),
            event_published: true,
            task_id: Some("task-1".to_owned()),
            action: Some(ActionType::Approve),
        },
    );
    snapshot
}

async fn put_raw_item(client: &Client, item: Vec<(&str, AttributeValue)>) {
    let mut request = client.put_item().table_name(TABLE);
    for (name, value) in item {
        request = request.item(name, value);
    }
    request.send().await.expect("put a raw item");
}

#[tokio::test]
async fn loading_an_unknown_instance_gives_an_empty_unsaved_snapshot() {
    let fixture = fixture().await;

    let snapshot = fixture.store.load("never-seen").await.expect("load");

    assert_eq!(snapshot, Snapshot::empty("never-seen"));
    assert_eq!(snapshot.version, 0);
}

#[tokio::test]
async fn a_saved_snapshot_loads_back_unchanged_with_its_new_version() {
    let fixture = fixture().await;
    let snapshot = full_snapshot("inst-1");

    let version = fixture.store.save(&snapshot).await.expect("first save");
    assert_eq!(version, 1);
    let loaded = fixture.store.load("inst-1").await.expect("load");
    assert_eq!(
        loaded,
        Snapshot {
            version: 1,
            ..snapshot
        }
    );
    assert_eq!(
        loaded.cards.get("task-1").map(MessageId::as_str),
        Some(CARD_MESSAGE_ID),
        "message id digits must survive storage"
    );

    let mut changed = loaded;
    changed.instance.as_mut().expect("instance stored").status = InstanceStatus::Approved;
    let version = fixture.store.save(&changed).await.expect("second save");
    assert_eq!(version, 2);
    let reloaded = fixture.store.load("inst-1").await.expect("reload");
    assert_eq!(
        reloaded,
        Snapshot {
            version: 2,
            ..changed
        }
    );

    let other = fixture.store.load("inst-2").await.expect("load another");
    assert_eq!(
        other,
        Snapshot::empty("inst-2"),
        "instances are stored apart"
    );
}

#[tokio::test]
async fn of_two_saves_from_the_same_load_exactly_one_wins() {
    let fixture = fixture().await;
    fixture
        .store
        .save(&full_snapshot("inst-1"))
        .await
        .expect("seed");
    let mut first = fixture.store.load("inst-1").await.expect("first load");
    let mut second = fixture.store.load("inst-1").await.expect("second load");
    first.cards.insert("task-2".to_owned(), message_id("1"));
    second.cards.insert("task-3".to_owned(), message_id("2"));

    assert_eq!(fixture.store.save(&first).await.expect("first save"), 2);
    let stale = fixture.store.save(&second).await;

    assert!(
        matches!(&stale, Err(StoreError::Conflict { instance_id }) if instance_id == "inst-1"),
        "stale save must conflict, got {stale:?}"
    );
    let stored = fixture.store.load("inst-1").await.expect("load");
    assert_eq!(
        stored,
        Snapshot {
            version: 2,
            ..first
        }
    );
}

#[tokio::test]
async fn a_first_save_over_an_existing_snapshot_conflicts() {
    let fixture = fixture().await;
    let existing = full_snapshot("inst-1");
    fixture.store.save(&existing).await.expect("seed");

    let unaware = Snapshot::empty("inst-1");
    let result = fixture.store.save(&unaware).await;

    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "version-0 save over a stored item must conflict, got {result:?}"
    );
    let stored = fixture.store.load("inst-1").await.expect("load");
    assert_eq!(
        stored,
        Snapshot {
            version: 1,
            ..existing
        }
    );
}

#[tokio::test]
async fn a_save_with_a_version_ahead_of_the_store_conflicts() {
    let fixture = fixture().await;
    let mut invented = full_snapshot("inst-1");
    invented.version = 3;

    let result = fixture.store.save(&invented).await;

    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "a version the store never had must conflict, got {result:?}"
    );
    assert_eq!(
        fixture.store.load("inst-1").await.expect("load"),
        Snapshot::empty("inst-1")
    );
}

#[tokio::test]
async fn a_card_reference_is_found_by_its_message_id() {
    let fixture = fixture().await;
    let card = CardRef {
        instance_id: "inst-1".to_owned(),
        task_id: "task-1".to_owned(),
    };

    assert_eq!(
        fixture
            .store
            .find_card(&message_id(CARD_MESSAGE_ID))
            .await
            .expect("find before put"),
        None
    );
    fixture
        .store
        .put_card(&message_id(CARD_MESSAGE_ID), &card)
        .await
        .expect("put card");

    assert_eq!(
        fixture
            .store
            .find_card(&message_id(CARD_MESSAGE_ID))
            .await
            .expect("find"),
        Some(card)
    );
    // One digit less (what an f64 round trip of a 19-digit id could produce) is another card.
    assert_eq!(
        fixture
            .store
            .find_card(&message_id("7234567890123456780"))
            .await
            .expect("find another"),
        None
    );
    // Card references do not shadow snapshots.
    assert_eq!(
        fixture.store.load("inst-1").await.expect("load"),
        Snapshot::empty("inst-1")
    );
}

#[tokio::test]
async fn unreadable_items_are_reported_as_corrupt_without_their_contents() {
    let fixture = fixture().await;
    let secret_looking = "not json: SECRET-CONTENT";
    put_raw_item(
        &fixture.client,
        vec![
            ("pk", AttributeValue::S("instance#bad-json".to_owned())),
            ("version", AttributeValue::N("4".to_owned())),
            ("snapshot", AttributeValue::S(secret_looking.to_owned())),
        ],
    )
    .await;
    let valid_json = serde_json::to_string(&full_snapshot("no-version")).expect("serialize");
    put_raw_item(
        &fixture.client,
        vec![
            ("pk", AttributeValue::S("instance#no-version".to_owned())),
            ("snapshot", AttributeValue::S(valid_json.clone())),
        ],
    )
    .await;
    put_raw_item(
        &fixture.client,
        vec![
            ("pk", AttributeValue::S("instance#someone-else".to_owned())),
            ("version", AttributeValue::N("1".to_owned())),
            ("snapshot", AttributeValue::S(valid_json)),
        ],
    )
    .await;
    put_raw_item(
        &fixture.client,
        vec![
            ("pk", AttributeValue::S(format!("card#{CARD_MESSAGE_ID}"))),
            ("instance_id", AttributeValue::S("inst-1".to_owned())),
        ],
    )
    .await;

    for instance_id in ["bad-json", "no-version", "someone-else"] {
        match fixture.store.load(instance_id).await {
            Err(StoreError::Corrupt {
                instance_id: reported,
                reason,
            }) => {
                assert_eq!(reported, instance_id);
                assert!(
                    !reason.contains("SECRET-CONTENT"),
                    "item contents leaked: {reason}"
                );
            }
            other => panic!("{instance_id}: expected Corrupt, got {other:?}"),
        }
    }
    let card = fixture.store.find_card(&message_id(CARD_MESSAGE_ID)).await;
    assert!(
        matches!(card, Err(StoreError::Corrupt { .. })),
        "card without task_id must be corrupt, got {card:?}"
    );
}

#[tokio::test]
async fn a_snapshot_over_the_item_size_limit_is_refused_and_the_stored_one_kept() {
    let fixture = fixture().await;
    let stored = full_snapshot("inst-1");
    fixture.store.save(&stored).await.expect("seed");
    let mut huge = fixture.store.load("inst-1").await.expect("load");
    if let Some(instance) = huge.instance.as_mut() {
        instance.extra = Some("x".repeat(410 * 1024));
    }

    let result = fixture.store.save(&huge).await;

    match result {
        Err(StoreError::TooLarge { bytes, limit, .. }) => {
            assert!(
                bytes > limit,
                "{bytes} bytes should exceed the {limit}-byte limit"
            );
        }
        other => panic!("expected the size limit error, got {other:?}"),
    }
    assert_eq!(
        fixture.store.load("inst-1").await.expect("load"),
        Snapshot {
            version: 1,
            ..stored
        }
    );
}

#[tokio::test]
async fn a_missing_table_makes_the_store_unavailable() {
    let fixture = fixture().await;
    let store = DynamoDbStore::new(fixture.client.clone(), "no-such-table");

    let result = store.load("inst-1").await;

    match result {
        Err(StoreError::Unavailable(reason)) => {
            assert!(
                reason.contains("no-such-table"),
                "reason names no table: {reason}"
            );
            assert!(
                reason.contains("ResourceNotFound"),
                "reason lacks the code: {reason}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// Writers that each reload and retry on conflict: every update must end up stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_that_retry_on_conflict_lose_no_update() {
    const WRITERS: usize = 6;
    const UPDATES_PER_WRITER: usize = 3;
    const MAX_ATTEMPTS: usize = 200;
    let fixture = fixture().await;
    let store = Arc::new(fixture.store.clone());

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            let mut versions = Vec::new();
            for update in 0..UPDATES_PER_WRITER {
                let key = format!("task-{writer}-{update}");
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    assert!(attempts <= MAX_ATTEMPTS, "{key}: too many conflicts");
                    let mut snapshot = store.load("contended").await.expect("load");
                    snapshot.decisions.insert(
                        key.clone(),
                        AppliedDecision {
                            applied_at: UnixMillis::from_millis(1),
                            event_published: false,
                            task_id: None,
                            action: None,
                        },
                    );
                    match store.save(&snapshot).await {
                        Ok(version) => {
                            versions.push(version);
                            break;
                        }
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(error) => panic!("{key}: {error}"),
                    }
                }
            }
            versions
        }));
    }
    let mut versions = BTreeSet::new();
    for writer in writers {
        for version in writer.await.expect("writer finished") {
            assert!(versions.insert(version), "version {version} saved twice");
        }
    }

    let total = (WRITERS * UPDATES_PER_WRITER) as u64;
    assert_eq!(versions, (1..=total).collect::<BTreeSet<_>>());
    let stored = store.load("contended").await.expect("load");
    assert_eq!(stored.version, total);
    let expected_keys: BTreeSet<String> = (0..WRITERS)
        .flat_map(|writer| {
            (0..UPDATES_PER_WRITER).map(move |update| format!("task-{writer}-{update}"))
        })
        .collect();
    let stored_keys: BTreeSet<String> = stored.decisions.keys().cloned().collect();
    assert_eq!(stored_keys, expected_keys, "an update was lost");
}
