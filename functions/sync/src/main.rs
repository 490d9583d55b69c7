//! Lambda entry point: wires tracing, configuration and clients, prefetches the secrets and a
//! tenant token, then runs sync jobs.
//!
//! `TABLE_NAME` selects the DynamoDB instance store (else in memory), `EVENT_BUS_NAME` the
//! EventBridge publisher (else the log); see [`Config`] for the other settings.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use approval_sync::events::LogPublisher;
use approval_sync::events::eventbridge::EventBridgePublisher;
use approval_sync::{
    Config, EventPublisher, SyncService, handle_job, job_outcome, job_properties, job_type,
    parse_job, remaining_time,
};
use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use feishu_bridge::client::FeishuClient;
use feishu_bridge::clock::SystemClock;
use feishu_bridge::metrics::{CurrentJobObserver, EmfEmitter, JobMetrics, JobOutcome};
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
    feishu_bridge::logging::init();
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
    let emitter = EmfEmitter::from_env()?;
    // Every Feishu call of a job is recorded into that job's metrics.
    let feishu = FeishuClient::new(config.feishu.clone(), Arc::clone(&credentials))?
        .observed_by(Arc::new(CurrentJobObserver));
    prefetch(&credentials, &feishu).await;
    let parts = Parts {
        feishu,
        credentials,
        config,
        emitter,
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
    emitter: EmfEmitter,
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
    let emitter = &parts.emitter;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
            });
        let remaining = remaining_time(event.context.deadline, now_ms);
        if remaining.is_none() {
            tracing::debug!(
                deadline_ms = event.context.deadline,
                "the runtime's deadline is not a Unix time; SYNC_DEADLINE_MS alone bounds the job"
            );
        }
        let job = match parse_job(event.payload) {
            Ok(job) => job,
            Err(error) => {
                let metrics = JobMetrics::start("invalid");
                metrics.property("request_id", event.context.request_id.clone());
                metrics.property("error_type", error.error_type());
                emitter.emit(&metrics.finish(JobOutcome::Failed));
                return Err(error);
            }
        };
        let metrics = JobMetrics::start(job_type(&job));
        metrics.property("request_id", event.context.request_id.clone());
        for (name, value) in job_properties(&job) {
            metrics.property(name, value);
        }
        let invocation_deadline = remaining.map(|left| Instant::now() + left);
        let result = metrics
            .scope(handle_job(job, service, invocation_deadline))
            .await;
        if let Err(error) = &result {
            metrics.property("error_type", error.error_type());
        }
        emitter.emit(&metrics.finish(job_outcome(&result)));
        result
    }))
    .await
}
