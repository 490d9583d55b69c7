//! [`SyncError`]: why a job failed, as the Lambda error its invocation fails with.
//!
//! Every failure fails the invocation: Lambda retries asynchronous invocations and then sends the
//! job to the on-failure destination, where the error type and message tell why. Messages carry
//! Feishu's `code`, `msg` and `log_id`, never tokens, request bodies or job contents.

use feishu_bridge::client::FeishuError;
use feishu_bridge::handoff::ProofError;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::secrets::SecretError;
use lambda_runtime::Diagnostic;

use feishu_bridge::store::StoreError;

use crate::events::PublishError;

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The job is not a valid [`SyncJob`](feishu_bridge::job::SyncJob); retrying cannot help.
    #[error("invalid job: {0}")]
    InvalidJob(String),
    /// A decision job without a valid proof that the callback function made it (see
    /// `feishu_bridge::handoff`): refused before anything is read or written; retrying cannot
    /// help. The message says why, never what the job holds.
    #[error("decision job refused: {0}")]
    UnprovenDecision(ProofError),
    /// A Feishu call failed.
    #[error("Feishu {api} for {target} failed: {}", FeishuReason(.source))]
    Feishu {
        /// The API called, e.g. `external_instances`.
        api: &'static str,
        /// What it was called for (an instance id, a message id, a task).
        target: String,
        /// The failure, with Feishu's code, msg and log id.
        #[source]
        source: FeishuError,
    },
    /// The instance store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Concurrent writers kept moving the instance; a later retry will succeed.
    #[error("gave up after {attempts} concurrent changes to instance {instance_id}")]
    TooManyConflicts {
        /// The contended instance.
        instance_id: String,
        /// Write attempts made.
        attempts: u32,
    },
    /// Another execution of the same delivery is still finishing it; a later retry finds it
    /// finished or its lease run out.
    #[error("another execution of delivery {delivery_id} is still finishing it")]
    DecisionInFlight {
        /// The delivery.
        delivery_id: String,
    },
    /// Another execution held the claim of a bot card this decision's state must reach past
    /// this job's deadline; a later retry finds the card settled or the claim run out.
    #[error("another execution is still updating the bot cards of instance {instance_id}")]
    CardsInFlight {
        /// The instance whose cards are claimed.
        instance_id: String,
    },
    /// Another execution held the instance's push lease past this job's deadline without pushing
    /// the position this job must see pushed; a later retry finds it pushed or the lease run out.
    #[error("another execution is still pushing instance {instance_id}")]
    PushInFlight {
        /// The instance being pushed.
        instance_id: String,
    },
    /// The job's deadline (its budget, or the invocation's remaining time) passed.
    #[error("the job did not finish within its deadline of {0:?}")]
    DeadlineExceeded(std::time::Duration),
    /// An event could not be published (the decision itself is recorded).
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The credentials (the app's, or the callback token and key for bot cards and hand-off
    /// proofs) could not be loaded.
    #[error("could not load the credentials")]
    Credentials(#[source] SecretError),
    /// A setting the job needs is not configured.
    #[error("{0} is not configured; it is needed to {1}")]
    NotConfigured(&'static str, &'static str),
    /// A reconcile job left part of its window out of sync: some instances could not be
    /// brought in line, or the window did not fit in the job's time.
    #[error("reconcile of [{since}, {until}) is incomplete: {detail}")]
    ReconcileIncomplete {
        /// Start of the window, Unix ms.
        since: UnixMillis,
        /// End of the window, Unix ms.
        until: UnixMillis,
        /// What is left, and how to resume.
        detail: String,
        /// Whether running the job again may finish it.
        retryable: bool,
    },
}

impl SyncError {
    /// The Lambda `errorType` of this failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidJob(_) => "InvalidJob",
            Self::UnprovenDecision(_) => "UnprovenDecision",
            Self::Feishu { source, .. } if source.is_retryable() => "FeishuTransient",
            Self::Feishu { .. } => "FeishuRejected",
            Self::Store(StoreError::Conflict { .. }) | Self::TooManyConflicts { .. } => {
                "StoreConflict"
            }
            Self::DecisionInFlight { .. } => "DecisionInFlight",
            Self::CardsInFlight { .. } => "CardsInFlight",
            Self::PushInFlight { .. } => "PushInFlight",
            Self::DeadlineExceeded(_) => "DeadlineExceeded",
            Self::Store(StoreError::Unavailable(_)) => "StoreUnavailable",
            Self::Store(StoreError::Corrupt { .. }) => "StoreCorrupt",
            Self::Store(StoreError::TooLarge { .. }) => "RecordTooLarge",
            Self::Publish(_) => "PublishFailed",
            Self::Credentials(_) => "CredentialsUnavailable",
            Self::NotConfigured(..) => "NotConfigured",
            Self::ReconcileIncomplete { .. } => "ReconcileIncomplete",
        }
    }

    /// Whether retrying the whole job later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Feishu { source, .. } => source.is_retryable(),
            Self::Store(StoreError::Corrupt { .. } | StoreError::TooLarge { .. })
            | Self::InvalidJob(_)
            | Self::UnprovenDecision(_)
            | Self::NotConfigured(..) => false,
            Self::Store(_)
            | Self::TooManyConflicts { .. }
            | Self::DecisionInFlight { .. }
            | Self::CardsInFlight { .. }
            | Self::PushInFlight { .. }
            | Self::DeadlineExceeded(_)
            | Self::Publish(_)
            | Self::Credentials(_) => true,
            Self::ReconcileIncomplete { retryable, .. } => *retryable,
        }
    }

    /// A failed Feishu call of `api` for `target`.
    pub(crate) fn feishu(
        api: &'static str,
        target: impl Into<String>,
        source: FeishuError,
    ) -> Self {
        Self::Feishu {
            api,
            target: target.into(),
            source,
        }
    }
}

impl From<SyncError> for Diagnostic {
    fn from(error: SyncError) -> Self {
        Self {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// Formats a Feishu failure; a passed deadline also shows its last attempt's failure, so the
/// code, msg and log id Feishu answered with are never lost.
struct FeishuReason<'a>(&'a FeishuError);

impl std::fmt::Display for FeishuReason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        if let FeishuError::DeadlineExceeded {
            last: Some(last), ..
        } = self.0
        {
            write!(f, "; last attempt: {last}")?;
        }
        Ok(())
    }
}
