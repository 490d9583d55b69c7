//! Lambda entry point: wires tracing, configuration and clients, then runs sync jobs.
//!
//! `TABLE_NAME` selects the DynamoDB snapshot store (else in memory), `EVENT_BUS_NAME` the
//! EventBridge publisher (else the log); see [`Config`] for the other settings.

use std::sync::Arc;

use approval_sync::events::LogPublisher;
use approval_sync::events::eventbridge::EventBridgePublisher;
use approval_sync::store::InMemoryStore;
use approval_sync::store::dynamodb::DynamoDbStore;
use approval_sync::{Config, DecisionPublisher, SnapshotStore, SyncService, handle_job, parse_job};
use aws_config::SdkConfig;
use feishu_bridge::client::FeishuClient;
use feishu_bridge::secrets::CredentialSource;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    // The AWS configuration is loaded once, and only when an AWS service is used: local runs
    // with the in-memory defaults and environment credentials need no AWS environment at all.
    let aws = if config.table_name.is_some() || config.event_bus_name.is_some() {
        Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    } else {
        None
    };
    let credentials = Arc::new(match &aws {
        Some(aws) => CredentialSource::from_env_with(aws)?,
        None => CredentialSource::from_env().await?,
    });
    let feishu = FeishuClient::new(config.feishu.clone(), Arc::clone(&credentials))?;
    let parts = Parts {
        feishu,
        credentials,
        config,
    };
    match (&aws, parts.config.table_name.clone()) {
        (Some(aws), Some(table_name)) => {
            let client = aws_sdk_dynamodb::Client::new(aws);
            with_publisher(parts, Some(aws), DynamoDbStore::new(client, table_name)).await
        }
        _ => {
            tracing::warn!("TABLE_NAME is not set: snapshots live in memory only");
            with_publisher(parts, aws.as_ref(), InMemoryStore::new()).await
        }
    }
}

/// What every service is built from.
struct Parts {
    feishu: FeishuClient,
    credentials: Arc<CredentialSource>,
    config: Config,
}

/// Picks the publisher, then serves.
async fn with_publisher<S: SnapshotStore>(
    parts: Parts,
    aws: Option<&SdkConfig>,
    store: S,
) -> Result<(), Error> {
    match (aws, parts.config.event_bus_name.clone()) {
        (Some(aws), Some(bus_name)) => {
            let client = aws_sdk_eventbridge::Client::new(aws);
            serve(parts, store, EventBridgePublisher::new(client, bus_name)).await
        }
        _ => {
            tracing::warn!("EVENT_BUS_NAME is not set: decision events go to the log only");
            serve(parts, store, LogPublisher).await
        }
    }
}

/// Runs jobs until the runtime stops.
async fn serve<S: SnapshotStore, P: DecisionPublisher>(
    parts: Parts,
    store: S,
    publisher: P,
) -> Result<(), Error> {
    let service = SyncService::new(
        parts.feishu,
        parts.credentials,
        store,
        publisher,
        parts.config.sync,
    );
    let service = &service;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let job = parse_job(event.payload)?;
        handle_job(job, service).await
    }))
    .await
}
