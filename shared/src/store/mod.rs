//! The instance store port: what the sync function keeps per instance ([`records`]), read by the
//! callback function (its early look-up) and by `approvalctl inspect`.
//!
//! Every write is conditional, so concurrent jobs (and concurrent Lambda containers) serialize
//! on the instance's [`Head`]: a [`Commit`] that advances the head succeeds only if nobody
//! advanced it since the records were loaded, and a failed condition is [`StoreError::Conflict`]
//! — reload, plan again, write again. Adapters: [`InMemoryStore`] (local runs, tests, the
//! simulation) and, with the `dynamodb` feature, `dynamodb::DynamoDbStore`.

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
mod memory;
pub mod records;
mod target;

use std::future::Future;

pub use memory::InMemoryStore;
pub use records::{
    AcceptedDecision, Base, CardRecord, CardRef, Delivery, Head, InstanceRecords, Lease, Position,
    RefusedCardUpdate, TapJudgement, Verdict,
};
pub use target::{ResolveError, Target, resolve_target};

use crate::ids::MessageId;
use crate::models::message::CardStatus;

/// One atomic write of a job's plan. It fails with [`StoreError::Conflict`], writing nothing,
/// when the instance's head is no longer at `at_seq` (only when `head` is set: commits that
/// leave the state unchanged need no order) or when a record it creates already exists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Commit {
    /// The instance.
    pub instance_id: String,
    /// The position the plan was made at (`0`: no head yet).
    pub at_seq: Position,
    /// The advanced head (its `seq` is the new position), when the commit moves the order.
    pub head: Option<Head>,
    /// A new base (replacing the stored one).
    pub base: Option<Base>,
    /// A new accepted decision; it must not exist yet.
    pub decision: Option<AcceptedDecision>,
    /// A new delivery record; it must not exist yet.
    pub delivery: Option<Delivery>,
}

impl Commit {
    /// Applies the commit to `records` (as the store did, once its conditions held).
    pub fn apply_to(&self, records: &mut InstanceRecords) {
        if let Some(head) = &self.head {
            let mut head = head.clone();
            if let Some(stored) = &records.head {
                head.pushed_seq = head.pushed_seq.max(stored.pushed_seq);
                head.push_lease.clone_from(&stored.push_lease);
            }
            records.head = Some(head);
        }
        if let Some(base) = &self.base {
            records.base = Some(base.clone());
        }
        if let Some(decision) = &self.decision {
            records.decisions.push(decision.clone());
        }
        if let Some(delivery) = &self.delivery {
            records.deliveries.push(delivery.clone());
        }
    }
}

/// What an execution finished of a delivery it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryProgress {
    /// The decision's card has been dealt with.
    pub card_done: bool,
    /// A push including the decision was accepted.
    pub pushed: bool,
    /// Its event was published.
    pub published: bool,
}

/// A change to a card record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardChange {
    /// Take the card to set it to `target`, if its head is still at `at_seq` (so the target is
    /// current), it does not show `target` already, and nobody holds a live claim on it.
    Claim {
        /// The position the target status was derived at.
        at_seq: Position,
        /// The status the claimer will set.
        target: CardStatus,
        /// The claim.
        lease: Lease,
        /// Now, Unix ms (an expired claim may be taken over).
        now_ms: u64,
    },
    /// Record the outcome of an update and release the claim, if `owner` still holds it.
    Settle {
        /// The claim's owner.
        owner: String,
        /// The status Feishu accepted, if it did.
        status: Option<CardStatus>,
        /// The status Feishu refused for good, if it did.
        refused: Option<RefusedCardUpdate>,
    },
    /// Release the claim of `owner` after an update whose outcome is unknown (Feishu failed
    /// transiently, and may have applied it): the card's status is unknown, so it is set again.
    Unsettle {
        /// The claim's owner.
        owner: String,
    },
    /// Feishu answered a send of the card with success (and, when trusted, its message id,
    /// which does not replace one a callback from the card already told).
    Sent {
        /// The message id, when the answer's id can be trusted.
        message_id: Option<MessageId>,
    },
    /// A callback from the card told its message id (only set while it has none).
    LearnMessageId(MessageId),
}

/// What releasing a push lease came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushRelease {
    /// Released: nothing was committed since the pushed position.
    Released,
    /// The head moved past the pushed position while it was pushed: push the latest again.
    Moved,
    /// The lease ran out and another execution took it (it pushes the latest).
    Lost,
}

/// When an instance's records may be deleted (Unix seconds); `None` keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expiry {
    /// For every record but the head (and for nothing once the instance is pending again).
    pub records_at: Option<u64>,
    /// For the head (the tombstone) and the card index entries.
    pub tombstone_at: Option<u64>,
}

/// An instance whose head moved within a time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentChange {
    /// The instance.
    pub instance_id: String,
    /// When its head last moved (Unix ms).
    pub touched_at: u64,
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A condition failed: someone changed the instance since it was loaded; reload and re-plan.
    #[error("the records of instance {instance_id} changed concurrently")]
    Conflict {
        /// The contended instance.
        instance_id: String,
    },
    /// The store is throttling, timing out or unreachable; the job should be retried later.
    #[error("the instance store is unavailable: {0}")]
    Unavailable(String),
    /// A record is too large for the store; retrying cannot help.
    #[error(
        "a record of instance {instance_id} would take {bytes} bytes, over the store's {limit}-byte limit"
    )]
    TooLarge {
        /// The instance whose record was refused.
        instance_id: String,
        /// The size the stored item would have.
        bytes: usize,
        /// The store's item size limit.
        limit: usize,
    },
    /// A stored record cannot be read back.
    #[error("a stored record of instance {instance_id} is unreadable: {reason}")]
    Corrupt {
        /// The instance whose record is unreadable.
        instance_id: String,
        /// What is wrong with it (never record contents).
        reason: String,
    },
}

/// Where instance records live: DynamoDB in AWS, memory locally and in tests.
pub trait InstanceStore: Send + Sync {
    /// Every record of `instance_id`, consistent as of its head.
    fn load(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<InstanceRecords, StoreError>> + Send;

    /// The head of `instance_id` alone (a cheap "did anything move?").
    fn load_head(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<Option<Head>, StoreError>> + Send;

    /// Writes `commit` atomically (see [`Commit`] for its conditions).
    fn commit(&self, commit: &Commit) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes delivery `delivery_id` over with `lease` if no live lease holds it at `now_ms`;
    /// `Ok(false)` when one does.
    fn claim_delivery(
        &self,
        instance_id: &str,
        delivery_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records `progress` (flags are only ever set) and releases the lease, if `owner` still
    /// holds it; [`StoreError::Conflict`] when another execution took it over.
    fn finish_delivery(
        &self,
        instance_id: &str,
        delivery_id: &str,
        owner: &str,
        progress: DeliveryProgress,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Adds a card to the instance; `Ok(false)` when a card with its key exists already.
    fn put_card(
        &self,
        instance_id: &str,
        card: &CardRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Changes card `card_key`; `Ok(false)` when the change's condition does not hold (the card
    /// is claimed, the head moved, the claim was lost, or the card is gone).
    fn change_card(
        &self,
        instance_id: &str,
        card_key: &str,
        change: &CardChange,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Remembers which task bot card `message_id` belongs to.
    fn index_card(
        &self,
        message_id: &MessageId,
        card: &CardRef,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The task bot card `message_id` belongs to, if the bridge knows it.
    fn find_card(
        &self,
        message_id: &MessageId,
    ) -> impl Future<Output = Result<Option<CardRef>, StoreError>> + Send;

    /// Takes the instance's push lease with `lease` if nobody else holds a live one at
    /// `now_ms`; `Ok(false)` when another execution is pushing the instance.
    fn claim_push(
        &self,
        instance_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records that the state at position `seq` was pushed and releases the push lease of
    /// `owner` — only if the head is still at `seq` (else [`PushRelease::Moved`]: push again).
    fn release_push(
        &self,
        instance_id: &str,
        owner: &str,
        seq: Position,
    ) -> impl Future<Output = Result<PushRelease, StoreError>> + Send;

    /// Sets (or clears) when the instance's records, its tombstone and the index entries of
    /// `cards` may be deleted.
    fn expire(
        &self,
        instance_id: &str,
        expiry: Expiry,
        cards: &[MessageId],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The instances whose head moved within `[since_ms, until_ms)`, read from the
    /// recent-changes index (never a scan of the table).
    fn recently_changed(
        &self,
        since_ms: u64,
        until_ms: u64,
    ) -> impl Future<Output = Result<Vec<RecentChange>, StoreError>> + Send;
}

/// The read-only part of an [`InstanceStore`]: what the callback function's early look-up
/// needs (records and the card index, never a write). Every store is one.
pub trait InstanceReader: Send + Sync {
    /// Every record of `instance_id`, consistent as of its head (see [`InstanceStore::load`]).
    fn load(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<InstanceRecords, StoreError>> + Send;

    /// The task bot card `message_id` belongs to (see [`InstanceStore::find_card`]).
    fn find_card(
        &self,
        message_id: &MessageId,
    ) -> impl Future<Output = Result<Option<CardRef>, StoreError>> + Send;
}

impl<S: InstanceStore> InstanceReader for S {
    fn load(
        &self,
        instance_id: &str,
    ) -> impl Future<Output = Result<InstanceRecords, StoreError>> + Send {
        InstanceStore::load(self, instance_id)
    }

    fn find_card(
        &self,
        message_id: &MessageId,
    ) -> impl Future<Output = Result<Option<CardRef>, StoreError>> + Send {
        InstanceStore::find_card(self, message_id)
    }
}

/// The hour bucket of a Unix-ms time: the partition of the recent-changes index.
pub fn hour_of(millis: u64) -> u64 {
    millis / 3_600_000
}
