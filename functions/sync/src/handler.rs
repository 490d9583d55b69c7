//! The job handler: parses the invocation payload into a [`SyncJob`] and runs it against the
//! [`SyncService`]'s Feishu client, snapshot store and decision publisher.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use feishu_bridge::client::FeishuClient;
use feishu_bridge::ids::MessageId;
use feishu_bridge::job::{DecisionJob, InstanceJob, MessageJob, SyncJob};
use feishu_bridge::models::instance::ExternalInstance;
use feishu_bridge::models::message::{CardStatus, UpdateMessageRequest};
use feishu_bridge::secrets::CredentialSource;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::SyncSettings;
use crate::error::SyncError;
use crate::events::DecisionPublisher;
use crate::store::SnapshotStore;
use crate::summary::{
    FeishuCall, MessageSummary, SYNC_INSTANCE_API, SyncSummary, UPDATE_MESSAGE_API,
};
use crate::{decision, instance_job};

/// Everything a job needs: one Feishu client, the app credentials (for bot cards), the snapshot
/// store, the decision publisher and the settings. Built once per process.
#[derive(Debug)]
pub struct SyncService<S, P> {
    pub(crate) feishu: FeishuClient,
    pub(crate) credentials: Arc<CredentialSource>,
    pub(crate) store: S,
    pub(crate) publisher: P,
    pub(crate) settings: SyncSettings,
}

impl<S: SnapshotStore, P: DecisionPublisher> SyncService<S, P> {
    /// A service over these clients. `credentials` should be the source `feishu` was built with.
    pub fn new(
        feishu: FeishuClient,
        credentials: Arc<CredentialSource>,
        store: S,
        publisher: P,
        settings: SyncSettings,
    ) -> Self {
        Self {
            feishu,
            credentials,
            store,
            publisher,
            settings,
        }
    }

    /// The snapshot store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The decision publisher.
    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// The Feishu client.
    pub fn feishu(&self) -> &FeishuClient {
        &self.feishu
    }

    /// The settings.
    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }
}

/// Parses an invocation payload into a job. The error names the problem (a missing or unknown
/// `type`, a missing field, the path of an invalid field) without quoting the payload.
pub fn parse_job(payload: Value) -> Result<SyncJob, SyncError> {
    let kind = match payload.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(_) => return Err(invalid("`type` must be a string")),
        None if payload.is_object() => {
            return Err(invalid(
                "the job has no `type` (expected `decision`, `instance` or `message`)",
            ));
        }
        None => return Err(invalid("the job must be a JSON object")),
    };
    match kind.as_str() {
        "decision" => parse_body::<DecisionJob>(&kind, payload).map(SyncJob::Decision),
        "instance" => {
            parse_body::<InstanceJob>(&kind, payload).map(|job| SyncJob::Instance(Box::new(job)))
        }
        "message" => parse_body::<MessageJob>(&kind, payload).map(SyncJob::Message),
        _ => Err(invalid(
            "unknown job `type` (expected `decision`, `instance` or `message`)",
        )),
    }
}

/// Deserializes the body of a `kind` job, describing failures by field path.
fn parse_body<T: DeserializeOwned>(kind: &str, payload: Value) -> Result<T, SyncError> {
    serde_path_to_error::deserialize(payload).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        // serde's text can quote input values; only the parts naming fields and types are kept.
        let problem = if message.starts_with("missing field") {
            message
        } else if let Some((_, expected)) = message.rsplit_once(", expected ") {
            format!("invalid value, expected {expected}")
        } else {
            "invalid value".to_owned()
        };
        if path == "." {
            invalid(&format!("`{kind}` job: {problem}"))
        } else {
            invalid(&format!("`{kind}` job, field `{path}`: {problem}"))
        }
    })
}

fn invalid(problem: &str) -> SyncError {
    SyncError::InvalidJob(problem.to_owned())
}

/// Runs one job within the configured deadline and logs its summary or failure.
pub async fn handle_job<S, P>(
    job: SyncJob,
    service: &SyncService<S, P>,
) -> Result<SyncSummary, SyncError>
where
    S: SnapshotStore,
    P: DecisionPublisher,
{
    let deadline = Instant::now() + service.settings.deadline;
    let (kind, span) = match &job {
        SyncJob::Decision(_) => ("decision", tracing::info_span!("job", kind = "decision")),
        SyncJob::Instance(job) => (
            "instance",
            tracing::info_span!("job", kind = "instance", instance_id = %job.instance.instance_id),
        ),
        SyncJob::Message(job) => (
            "message",
            tracing::info_span!("job", kind = "message", message_id = %job.update.message_id),
        ),
    };
    // Boxed: the job futures are deep, and the runtime nests them further.
    let run: Pin<Box<dyn Future<Output = Result<SyncSummary, SyncError>> + Send + '_>> = match job {
        SyncJob::Decision(job) => Box::pin(async move {
            decision::handle_decision(service, job, deadline)
                .await
                .map(SyncSummary::Decision)
        }),
        SyncJob::Instance(job) => Box::pin(async move {
            instance_job::handle_instance(service, *job, deadline)
                .await
                .map(SyncSummary::Instance)
        }),
        SyncJob::Message(job) => Box::pin(async move {
            handle_message(service, job, deadline)
                .await
                .map(SyncSummary::Message)
        }),
    };
    let result = run.instrument(span).await;
    match &result {
        Ok(summary) => {
            let summary = serde_json::to_string(summary).unwrap_or_default();
            tracing::info!(job = kind, %summary, "job done");
        }
        Err(error) => tracing::error!(
            job = kind,
            error_type = error.error_type(),
            retryable = error.is_retryable(),
            %error,
            "job failed"
        ),
    }
    result
}

/// Sets a bot card's status, exactly as asked.
async fn handle_message<S, P>(
    service: &SyncService<S, P>,
    job: MessageJob,
    deadline: Instant,
) -> Result<MessageSummary, SyncError> {
    let update = job.update;
    let call = send_update(service, &update, deadline).await?;
    Ok(MessageSummary {
        message_id: update.message_id,
        status: update.status,
        calls: vec![call],
    })
}

/// Pushes a whole instance (`external_instances`).
pub(crate) async fn push_instance<S, P>(
    service: &SyncService<S, P>,
    instance: &ExternalInstance,
    deadline: Instant,
) -> Result<FeishuCall, SyncError> {
    let target = instance.instance_id.clone();
    match service.feishu.sync_instance(instance, deadline).await {
        Ok(_) => Ok(FeishuCall::accepted(SYNC_INSTANCE_API, target)),
        Err(error) => Err(SyncError::feishu(SYNC_INSTANCE_API, target, error)),
    }
}

/// Sets the status of bot card `message_id` (`message/update`).
pub(crate) async fn update_card<S, P>(
    service: &SyncService<S, P>,
    message_id: &MessageId,
    status: CardStatus,
    deadline: Instant,
) -> Result<FeishuCall, SyncError> {
    let update = UpdateMessageRequest {
        message_id: message_id.clone(),
        status,
        status_name: None,
        detail_action_name: None,
        i18n_resources: Vec::new(),
    };
    send_update(service, &update, deadline).await
}

async fn send_update<S, P>(
    service: &SyncService<S, P>,
    update: &UpdateMessageRequest,
    deadline: Instant,
) -> Result<FeishuCall, SyncError> {
    let target = update.message_id.to_string();
    match service.feishu.update_message(update, deadline).await {
        Ok(_) => Ok(FeishuCall::accepted(UPDATE_MESSAGE_API, target)),
        Err(error) => Err(SyncError::feishu(UPDATE_MESSAGE_API, target, error)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(payload: Value) -> String {
        match parse_job(payload) {
            Err(SyncError::InvalidJob(message)) => message,
            other => panic!("expected InvalidJob, got {other:?}"),
        }
    }

    #[test]
    fn parses_each_job_type() {
        let job = parse_job(json!({
            "type": "message", "message_id": "7690275278685244603", "status": "APPROVED"
        }))
        .unwrap();
        assert!(matches!(job, SyncJob::Message(_)));
    }

    #[test]
    fn names_a_missing_or_unknown_type() {
        assert!(message(json!({"instance": {}})).contains("no `type`"));
        assert!(message(json!({"type": "decisions"})).contains("unknown job `type`"));
        assert!(message(json!({"type": 3})).contains("must be a string"));
        assert!(message(json!([1, 2])).contains("JSON object"));
    }

    #[test]
    fn names_the_invalid_field_without_quoting_its_value() {
        let text = message(json!({
            "type": "instance",
            "instance": {
                "approval_code": "CODE", "status": "PENDING", "instance_id": "i-1",
                "links": {"pc_link": "https://example.com"},
                "start_time": "secret-looking-value", "end_time": "0", "update_time": "1"
            }
        }));
        assert!(text.contains("instance.start_time"), "{text}");
        assert!(!text.contains("secret-looking-value"), "{text}");
        let text = message(json!({"type": "message", "status": "APPROVED"}));
        assert!(text.contains("missing field `message_id`"), "{text}");
    }
}
