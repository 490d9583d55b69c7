//! The one job schema of the sync function, shared by the callback function and by every other
//! system that invokes the sync function.
//!
//! A job is a JSON object tagged by `type`:
//! - `decision`: an approver's quick-approval decision, handed off by the callback function;
//! - `instance`: a full external instance pushed by the company's system, optionally with bot cards;
//! - `message`: a bot card status change;
//! - `reconcile`: compare the instances changed within a window with Feishu's copies
//!   (`external_instances/check`) and re-push what Feishu lost or holds older (scheduled).

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::callback::ApprovalDecision;
use crate::models::instance::ExternalInstance;
use crate::models::message::UpdateMessageRequest;
use crate::models::time::UnixMillis;

/// A unit of work for the sync function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SyncJob {
    /// An approver decided a task in Feishu.
    Decision(DecisionJob),
    /// The company's system changed an instance.
    // Boxed: a full instance dwarfs the other jobs.
    Instance(Box<InstanceJob>),
    /// Set a bot card's status.
    Message(MessageJob),
    /// Bring Feishu in line with the instances changed within a window.
    Reconcile(ReconcileJob),
}

/// An approver's decision as received by the callback function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DecisionJob {
    /// What the approver decided, on which task.
    #[serde(flatten)]
    pub decision: ApprovalDecision,
    /// When the callback function received the decision.
    pub received_at: UnixMillis,
    /// Which callback delivered it: `b:` and the base64url SHA-256 of the callback's
    /// (decrypted) body, so a Lambda retry of the job and a replay of the same body are the same
    /// delivery. Jobs queued by earlier versions carry the callback's request id, or none (they
    /// are deduplicated by task and action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
    /// The callback function's proof that it made this job (`v1:` and an HMAC of the job without
    /// the proof; see `feishu_bridge::handoff`). The sync function refuses a decision job
    /// without one that verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

/// A full external instance to push to Feishu's Approval Center.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct InstanceJob {
    /// The whole instance, exactly as Feishu expects it.
    pub instance: ExternalInstance,
    /// Send a quick-approval bot card to the approver of each pending task that has none yet.
    #[serde(default)]
    pub notify: bool,
    /// Tasks the company's system re-opens (returns to their approver): each takes a new
    /// decision, even if the bridge accepted one on it before. Without `reopen`, a task this
    /// instance shows `PENDING` keeps the decision accepted on it (the company's system has not
    /// processed it yet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reopen: Vec<String>,
}

/// A bot card status change, exactly Feishu's `message/update` request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MessageJob {
    /// The update to apply.
    #[serde(flatten)]
    pub update: UpdateMessageRequest,
}

/// Reconcile the instances whose records changed within a window with Feishu: ask
/// `external_instances/check` about each and re-push every one Feishu lost or holds an older
/// version of. Scheduled every few minutes; an operator may also run it over any window.
///
/// On the wire: `{"type": "reconcile"}` (the default window), `{"type": "reconcile",
/// "window_minutes": 60}`, or `{"type": "reconcile", "since": "…", "until": "…"}` (Unix ms, the
/// form a run cut short by its deadline names for its continuation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ReconcileFields", into = "ReconcileFields")]
pub struct ReconcileJob {
    /// The window of changes to reconcile.
    pub window: ReconcileWindow,
}

/// Which changes a reconcile job looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileWindow {
    /// Changes made within the last `minutes` before the job started, except those of the last
    /// [`ReconcileWindow::SETTLE_MS`] (their own jobs are still pushing them; the next run, whose
    /// window overlaps, covers them).
    Recent {
        /// How far back the window reaches.
        minutes: NonZeroU32,
    },
    /// Changes made at or after `since` and before `until`.
    Between {
        /// Start of the window (inclusive), Unix ms.
        since: UnixMillis,
        /// End of the window (exclusive), Unix ms; after `since`.
        until: UnixMillis,
    },
}

impl ReconcileWindow {
    /// The window when a job names none: a little more than the scheduled interval (15
    /// minutes), so that consecutive runs overlap.
    pub const DEFAULT_MINUTES: u32 = 20;
    /// The longest `window_minutes` accepted: a week.
    pub const MAX_MINUTES: u32 = 7 * 24 * 60;
    /// How recent a change a [`ReconcileWindow::Recent`] window leaves to its own job: one
    /// minute, well past a job's time budget.
    pub const SETTLE_MS: u64 = 60_000;

    /// The window as `[since, until)` in Unix ms, for a job started at `now`.
    pub fn bounds(self, now: UnixMillis) -> (UnixMillis, UnixMillis) {
        match self {
            Self::Recent { minutes } => {
                let until = now.as_millis().saturating_sub(Self::SETTLE_MS);
                let since = until.saturating_sub(u64::from(minutes.get()) * 60_000);
                (
                    UnixMillis::from_millis(since),
                    UnixMillis::from_millis(until),
                )
            }
            Self::Between { since, until } => (since, until),
        }
    }
}

impl Default for ReconcileWindow {
    fn default() -> Self {
        Self::Recent {
            minutes: NonZeroU32::new(Self::DEFAULT_MINUTES).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// A reconcile job's fields as sent, before they are checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileFields {
    /// Minutes back from now (default [`ReconcileWindow::DEFAULT_MINUTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_minutes: Option<u32>,
    /// Explicit start of the window (with `until`), Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<UnixMillis>,
    /// Explicit end of the window (with `since`), Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<UnixMillis>,
}

/// Why reconcile fields name no window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidReconcileWindow {
    /// `window_minutes` is 0 or above the maximum.
    #[error(
        "`window_minutes` must be between 1 and {}",
        ReconcileWindow::MAX_MINUTES
    )]
    Minutes,
    /// Only one of `since` and `until` is given.
    #[error("`since` and `until` go together")]
    HalfOpen,
    /// `until` is not after `since`.
    #[error("`until` must be after `since`")]
    Empty,
    /// Both forms are given.
    #[error("give either `window_minutes` or `since` and `until`, not both")]
    Both,
}

impl TryFrom<ReconcileFields> for ReconcileJob {
    type Error = InvalidReconcileWindow;

    fn try_from(fields: ReconcileFields) -> Result<Self, Self::Error> {
        let window = match (fields.window_minutes, fields.since, fields.until) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(InvalidReconcileWindow::Both);
            }
            (minutes, None, None) => {
                let minutes = minutes.unwrap_or(ReconcileWindow::DEFAULT_MINUTES);
                if minutes > ReconcileWindow::MAX_MINUTES {
                    return Err(InvalidReconcileWindow::Minutes);
                }
                let minutes = NonZeroU32::new(minutes).ok_or(InvalidReconcileWindow::Minutes)?;
                ReconcileWindow::Recent { minutes }
            }
            (None, Some(since), Some(until)) if until > since => {
                ReconcileWindow::Between { since, until }
            }
            (None, Some(_), Some(_)) => return Err(InvalidReconcileWindow::Empty),
            (None, _, _) => return Err(InvalidReconcileWindow::HalfOpen),
        };
        Ok(Self { window })
    }
}

/// Either `window_minutes`, or `since` and `until` together (JSON Schema draft-07
/// `dependencies`); nothing else is refused.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for ReconcileJob {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ReconcileJob".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let millis = generator.subschema_for::<UnixMillis>();
        schemars::json_schema!({
            "type": "object",
            "description": "Reconcile the instances changed within a window with Feishu. Without fields: the last 20 minutes (but the last one).",
            "properties": {
                "window_minutes": {
                    "description": "Minutes back from now (the last minute is left to the jobs still pushing it).",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": ReconcileWindow::MAX_MINUTES
                },
                "since": millis.clone(),
                "until": millis
            },
            "dependencies": {"since": ["until"], "until": ["since"]},
            "not": {"anyOf": [
                {"required": ["window_minutes", "since"]},
                {"required": ["window_minutes", "until"]}
            ]}
        })
    }
}

impl From<ReconcileJob> for ReconcileFields {
    fn from(job: ReconcileJob) -> Self {
        match job.window {
            ReconcileWindow::Recent { minutes } => Self {
                window_minutes: Some(minutes.get()),
                ..Self::default()
            },
            ReconcileWindow::Between { since, until } => Self {
                window_minutes: None,
                since: Some(since),
                until: Some(until),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decision_json() -> serde_json::Value {
        json!({
            "type": "decision",
            "approval_code": "C0DE",
            "task_id": "t-1",
            "action": "APPROVE",
            "user_id": "u-1",
            "received_at": "1795248912345"
        })
    }

    #[test]
    fn a_decision_job_without_a_delivery_id_parses_and_stays_without_one() {
        let job: SyncJob = serde_json::from_value(decision_json()).unwrap();
        let SyncJob::Decision(decision) = &job else {
            panic!("a decision job: {job:?}");
        };
        assert_eq!(decision.delivery_id, None);
        assert_eq!(serde_json::to_value(&job).unwrap(), decision_json());
    }

    #[test]
    fn a_delivery_id_round_trips() {
        let mut value = decision_json();
        value["delivery_id"] = "8f5c3a52-7a4e-4d8b-9a53-0c6f1d2e3b4a".into();
        let job: SyncJob = serde_json::from_value(value.clone()).unwrap();
        let SyncJob::Decision(decision) = &job else {
            panic!("a decision job: {job:?}");
        };
        assert_eq!(
            decision.delivery_id.as_deref(),
            Some("8f5c3a52-7a4e-4d8b-9a53-0c6f1d2e3b4a")
        );
        assert_eq!(serde_json::to_value(&job).unwrap(), value);
    }

    fn reconcile(job: serde_json::Value) -> Result<ReconcileJob, String> {
        match serde_json::from_value::<SyncJob>(job) {
            Ok(SyncJob::Reconcile(job)) => Ok(job),
            Ok(other) => panic!("not a reconcile job: {other:?}"),
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn a_reconcile_job_names_its_window_one_way_or_the_other() {
        let default = reconcile(json!({"type": "reconcile"})).unwrap();
        assert_eq!(default.window, ReconcileWindow::default());
        let now = UnixMillis::from_millis(10 * 3_600_000);
        let (since, until) = default.window.bounds(now);
        assert_eq!(
            until.as_millis(),
            now.as_millis() - ReconcileWindow::SETTLE_MS
        );
        assert_eq!(until.as_millis() - since.as_millis(), 20 * 60_000);

        let hour = reconcile(json!({"type": "reconcile", "window_minutes": 60})).unwrap();
        let (since, until) = hour.window.bounds(now);
        assert_eq!(until.as_millis() - since.as_millis(), 60 * 60_000);

        let between =
            reconcile(json!({"type": "reconcile", "since": "1000", "until": 2000})).unwrap();
        assert_eq!(
            between.window.bounds(now),
            (UnixMillis::from_millis(1000), UnixMillis::from_millis(2000))
        );
        // It round-trips in the form it was given.
        let wire = serde_json::to_value(SyncJob::Reconcile(between)).unwrap();
        assert_eq!(
            wire,
            json!({"type": "reconcile", "since": "1000", "until": "2000"})
        );
    }

    #[test]
    fn a_window_that_is_not_one_is_refused() {
        for (job, problem) in [
            (
                json!({"type": "reconcile", "window_minutes": 0}),
                "between 1 and",
            ),
            (
                json!({"type": "reconcile", "window_minutes": 10081}),
                "between 1 and",
            ),
            (json!({"type": "reconcile", "since": "1000"}), "go together"),
            (
                json!({"type": "reconcile", "since": "2000", "until": "1000"}),
                "after `since`",
            ),
            (
                json!({"type": "reconcile", "window_minutes": 5, "until": "1000"}),
                "not both",
            ),
        ] {
            let error = reconcile(job.clone()).unwrap_err();
            assert!(error.contains(problem), "{job}: {error}");
        }
    }
}
