//! Lambda entry point: wires tracing, configuration and clients, prefetches the secrets and a
//! tenant token, then runs sync jobs.
//!
//! `TABLE_NAME` selects the DynamoDB snapshot store (else in memory), `EVENT_BUS_NAME` the
//! EventBridge publisher (else the log); see [`Config`] for the other settings.

use std::sync::Arc;
use std::time::Duration;

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
    prefetch(&credentials, &feishu).await;
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

/// How long init waits for [`prefetch`] before it takes the first job anyway.
const INIT_PREFETCH_BUDGET: Duration = Duration::from_secs(1);
/// Deadline of the prefetch's token request, retries included.
const PREFETCH_DEADLINE: Duration = Duration::from_secs(5);

/// Fetches at init, at the same time, what the first job would otherwise wait for: the secrets and
/// a tenant token (which also opens the connection to Feishu). Never fails init: past its budget
/// it carries on in the background, and whatever fails is fetched by the first job as before.
async fn prefetch(credentials: &Arc<CredentialSource>, feishu: &FeishuClient) {
    let (credentials, feishu) = (Arc::clone(credentials), feishu.clone());
    let prefetch = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + PREFETCH_DEADLINE;
        let (secrets, token) = tokio::join!(
            credentials.credentials(),
            feishu.tenant_access_token(deadline)
        );
        if let Err(error) = secrets {
            tracing::warn!(%error, "prefetching the credentials failed; the first job retries");
        }
        if let Err(error) = token {
            tracing::warn!(%error, "prefetching a tenant token failed; the first job retries");
        }
    });
    if tokio::time::timeout(INIT_PREFETCH_BUDGET, prefetch)
        .await
        .is_err()
    {
        tracing::warn!("prefetch still running at the end of its budget; it carries on meanwhile");
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
