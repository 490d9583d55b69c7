//! Lambda entry point: wires tracing, configuration and clients, then runs sync jobs.
//!
//! `TABLE_NAME` selects the DynamoDB instance store (else in memory), `EVENT_BUS_NAME` the
//! EventBridge publisher (else the log); see [`Config`] for the other settings.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use approval_sync::events::LogPublisher;
use approval_sync::events::eventbridge::EventBridgePublisher;
use approval_sync::{Config, EventPublisher, SyncService, handle_job, parse_job};
use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use feishu_bridge::client::FeishuClient;
use feishu_bridge::clock::SystemClock;
use feishu_bridge::secrets::CredentialSource;
use feishu_bridge::store::dynamodb::DynamoDbStore;
use feishu_bridge::store::{InMemoryStore, InstanceStore};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tokio::time::Instant;

/// Every DynamoDB and EventBridge call ends within this (all attempts), so no lease outlives its
/// job waiting on AWS.
const AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// One attempt of a DynamoDB or EventBridge call ends within this.
const AWS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    // The AWS configuration is loaded once, and only when an AWS service is used: local runs
    // with the in-memory defaults and environment credentials need no AWS environment at all.
    let aws = if config.table_name.is_some() || config.event_bus_name.is_some() {
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(AWS_OPERATION_TIMEOUT)
            .operation_attempt_timeout(AWS_ATTEMPT_TIMEOUT)
            .build();
        Some(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .timeout_config(timeouts)
                .load()
                .await,
        )
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
            tracing::warn!("TABLE_NAME is not set: instance records live in memory only");
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
async fn with_publisher<S: InstanceStore>(
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
            tracing::warn!("EVENT_BUS_NAME is not set: events go to the log only");
            serve(parts, store, LogPublisher).await
        }
    }
}

/// Runs jobs until the runtime stops.
async fn serve<S: InstanceStore, P: EventPublisher>(
    parts: Parts,
    store: S,
    publisher: P,
) -> Result<(), Error> {
    let service = SyncService::new(
        parts.feishu,
        parts.credentials,
        store,
        publisher,
        Arc::new(SystemClock),
        parts.config.sync,
    );
    let service = &service;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let invocation_deadline = instant_of(event.context.deadline);
        let job = parse_job(event.payload)?;
        handle_job(job, service, invocation_deadline).await
    }))
    .await
}

/// A deadline this far in the past is no time at all: `cargo lambda watch` sends a fixed
/// `Lambda-Runtime-Deadline-Ms: 600000` (ten minutes after the epoch).
const IMPLAUSIBLY_PAST: Duration = Duration::from_secs(86_400);

/// The monotonic instant of a Unix-ms wall-clock deadline (now, if it has just passed), or
/// `None` for a value that is not a time (the job then runs on its own budget alone).
fn instant_of(deadline_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        });
    let implausible = u64::try_from(IMPLAUSIBLY_PAST.as_millis()).unwrap_or(u64::MAX);
    if deadline_ms.saturating_add(implausible) < now_ms {
        return None;
    }
    Some(Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}
