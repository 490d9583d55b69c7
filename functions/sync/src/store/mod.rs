//! The snapshot store port: the last full instance Feishu accepted, per `instance_id`, plus what
//! the sync function must remember to stay idempotent (applied decisions, bot cards sent).
//!
//! Feishu accepts only whole instances, so every push is built from the stored snapshot. Writes are
//! optimistic: a save succeeds only if nobody saved a newer version since the load.

pub mod dynamodb;
mod memory;

use std::collections::BTreeMap;
use std::future::Future;

use feishu_bridge::ids::MessageId;
use feishu_bridge::models::ActionType;
use feishu_bridge::models::instance::ExternalInstance;
use feishu_bridge::models::time::UnixMillis;
use serde::{Deserialize, Serialize};

pub use memory::InMemoryStore;

/// What the sync function remembers about one instance.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// The instance this snapshot belongs to.
    pub instance_id: String,
    /// Optimistic-concurrency version: `0` for a snapshot never saved.
    #[serde(skip)]
    pub version: u64,
    /// The last full instance Feishu accepted; `None` while only decisions or cards were seen.
    pub instance: Option<ExternalInstance>,
    /// The bot card sent for each task, by `task_id`.
    #[serde(default)]
    pub cards: BTreeMap<String, MessageId>,
    /// Decisions already applied, by [`decision_key`].
    #[serde(default)]
    pub decisions: BTreeMap<String, AppliedDecision>,
    /// Decisions being applied right now, or whose last attempt failed, by [`decision_key`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, DecisionClaim>,
}

impl Snapshot {
    /// An empty, never-saved snapshot for `instance_id`.
    pub fn empty(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            ..Self::default()
        }
    }
}

/// The idempotency key of a decision: the same approver action on the same task is one decision,
/// whichever path (card, list, search) or retry delivered it.
pub fn decision_key(task_id: &str, action: &ActionType) -> String {
    format!("{task_id}/{action}")
}

/// A decision the sync function has applied to Feishu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedDecision {
    /// When Feishu accepted it.
    pub applied_at: UnixMillis,
    /// Whether its event reached the company's system.
    pub event_published: bool,
    /// The decided task, when known: an instance stored after the decision gets it re-applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// What the approver did, kept with `task_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<ActionType>,
}

/// A decision one delivery is applying: concurrent deliveries of the same decision wait for it
/// instead of calling Feishu a second time. A failed attempt releases the claim (its lease ends)
/// but keeps what it already achieved, so Lambda's retry does not repeat it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionClaim {
    /// Until when the claim holds; a claim past its lease (a crashed attempt) may be taken over.
    pub lease_until: UnixMillis,
    /// Whether Feishu already accepted the bot card update for this decision.
    #[serde(default)]
    pub card_updated: bool,
}

/// Which task a bot card belongs to (callbacks from a card may carry only its `message_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRef {
    /// The instance the card was sent for.
    pub instance_id: String,
    /// The task the card was sent for.
    pub task_id: String,
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone saved a newer version since this snapshot was loaded; reload and re-apply.
    #[error("the snapshot of instance {instance_id} changed concurrently")]
    Conflict {
        /// The contended instance.
        instance_id: String,
    },
    /// The store is throttling or unreachable; the job should be retried later.
    #[error("the snapshot store is unavailable: {0}")]
    Unavailable(String),
    /// The snapshot is too large for the store; retrying cannot help.
    #[error(
        "the snapshot of instance {instance_id} would take {bytes} bytes, over the store's {limit}-byte limit"
    )]
    TooLarge {
        /// The instance whose snapshot was refused.
        instance_id: String,
        /// The size the stored item would have.
        bytes: usize,
        /// The store's item size limit.
        limit: usize,
    },
    /// A stored item cannot be read back.
    #[error("stored snapshot of instance {instance_id} is unreadable: {reason}")]
    Corrupt {
        /// The instance whose item is unreadable.
        instance_id: String,
        /// What is wrong with it (never item contents).
        reason: String,
    },
}

/// Where snapshots live: DynamoDB in AWS, memory locally and in tests.
pub trait SnapshotStore: Send + Sync {
    /// The stored snapshot of `instance_id`, or [`Snapshot::empty`] (version 0) if there is none.
    fn load(&self, instance_id: &str) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;

    /// Saves `snapshot` if the stored version is still `snapshot.version` (absent for version 0),
    /// and returns the new version. Fails with [`StoreError::Conflict`] otherwise.
    fn save(&self, snapshot: &Snapshot) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Remembers which task the bot card `message_id` was sent for.
    fn put_card(
        &self,
        message_id: &MessageId,
        card: &CardRef,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The task the bot card `message_id` was sent for, if this bridge sent it.
    fn find_card(
        &self,
        message_id: &MessageId,
    ) -> impl Future<Output = Result<Option<CardRef>, StoreError>> + Send;
}
