//! Expiry: once an instance is final, its items in DynamoDB (moto) get `expires_at`; a pending
//! instance's items never expire.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use feishu_bridge::store::dynamodb::{DynamoDbStore, create_table};
use serde_json::json;
use testkit::MotoServer;

use crate::helpers::*;

const TABLE: &str = "approval-bridge";

/// A table keyed as template.yaml keys it.
async fn table(moto: &MotoServer) -> Client {
    let client = Client::new(&moto.sdk_config().await);
    create_table(&client, TABLE).await.unwrap();
    client
}

/// Every item's `expires_at` (epoch seconds), by key, in key order.
async fn expiries(client: &Client) -> Vec<(String, Option<u64>)> {
    let items = client
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let mut expiries: Vec<_> = items
        .iter()
        .map(|item| {
            let key = ["pk", "sk"]
                .iter()
                .filter_map(|name| item.get(*name).and_then(|value| value.as_s().ok()))
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            let expires_at = match item.get("expires_at") {
                Some(AttributeValue::N(seconds)) => seconds.parse().ok(),
                _ => None,
            };
            (key, expires_at)
        })
        .collect();
    expiries.sort();
    expiries
}

#[tokio::test]
async fn a_final_instance_expires_and_a_pending_one_does_not() {
    let moto = MotoServer::start().await;
    let client = table(&moto).await;
    let server = feishu().await;
    let service = service_over(
        &server,
        settings(),
        DynamoDbStore::new(client.clone(), TABLE),
    );
    let tasks = [("t1", "PENDING"), ("t2", "PENDING")];
    run(
        &service,
        json!({"type": "instance", "instance": instance_json("i-1", START, &tasks), "notify": true}),
    )
    .await
    .unwrap();
    run(
        &service,
        decision(json!({
            "instance_id": "i-1", "task_id": "t1", "action": "APPROVE", "user_id": "approver-t1"
        })),
    )
    .await
    .unwrap();
    assert!(
        expiries(&client).await.iter().all(|(_, at)| at.is_none()),
        "a pending instance never expires: {:?}",
        expiries(&client).await
    );

    run(
        &service,
        decision(json!({
            "instance_id": "i-1", "task_id": "t2", "action": "APPROVE", "user_id": "approver-t2"
        })),
    )
    .await
    .unwrap();

    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let day = 86_400;
    let expiries = expiries(&client).await;
    assert!(!expiries.is_empty());
    for (key, expires_at) in &expiries {
        let expires_at = expires_at.unwrap_or_else(|| panic!("{key} has no expires_at"));
        let days = (expires_at.saturating_sub(now_secs) + day / 2) / day;
        // The tombstone of the instance (and the card index, which resolves ancient taps to
        // it) stays 400 days; everything else 60 days.
        let expected = if key.ends_with(" head") || key.starts_with("card#") {
            400
        } else {
            60
        };
        assert_eq!(days, expected, "{key}");
    }
}
