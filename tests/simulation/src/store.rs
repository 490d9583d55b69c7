//! The instance store as the simulation serves it: the real [`InMemoryStore`] (whose conditions
//! the DynamoDB adapter's differential test pins down) behind seeded latency, faults — a version
//! conflict that was not there, unavailability, a stall, a write applied whose answer is lost —
//! and crash points before and after every call. Every applied commit is observed for the oracle.

use std::future::Future;
use std::sync::Arc;

use feishu_bridge::ids::MessageId;
use feishu_bridge::store::{
    CardChange, CardRecord, CardRef, Commit, DeliveryProgress, Expiry, Head, InMemoryStore,
    InstanceRecords, InstanceStore, Lease, Position, PushRelease, RecentChange, StoreError,
    Verdict,
};

use crate::exec;
use crate::world::{Committed, World};

/// What a store call does, for the faults it may meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Commit,
}

/// A fault a store call meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Throttled or unreachable: nothing applied.
    Unavailable,
    /// The call takes seconds.
    Stall,
    /// A conditional write fails although nothing changed (as after a lost first attempt).
    Conflict,
    /// The write was applied, but its answer was lost: the SDK's retry of a conditional write
    /// then fails its condition (a conflict); of any other write, it gives up (unavailable).
    AppliedAnswerLost,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::Unavailable => "unavailable",
            Self::Stall => "stall",
            Self::Conflict => "conflict",
            Self::AppliedAnswerLost => "applied, answer lost",
        }
    }
}

/// The simulated instance store; clones share the records.
#[derive(Clone)]
pub struct SimStore {
    inner: Arc<InMemoryStore>,
    world: Arc<World>,
}

impl SimStore {
    /// An empty store in `world`.
    pub fn new(world: Arc<World>) -> Self {
        Self {
            inner: Arc::new(InMemoryStore::new()),
            world,
        }
    }

    /// The records as stored, read without latency or faults (for the oracle).
    pub async fn records(&self, instance_id: &str) -> InstanceRecords {
        self.inner
            .load(instance_id)
            .await
            .unwrap_or_else(|_| InstanceRecords::empty(instance_id))
    }

    fn fault(&self, kind: Kind) -> Option<Fault> {
        if !self.world.chance(self.world.knobs.store_fault) {
            return None;
        }
        let faults: &[Fault] = match kind {
            Kind::Read => &[Fault::Unavailable, Fault::Stall],
            Kind::Write => &[Fault::Unavailable, Fault::Stall, Fault::AppliedAnswerLost],
            Kind::Commit => &[
                Fault::Unavailable,
                Fault::Stall,
                Fault::Conflict,
                Fault::AppliedAnswerLost,
            ],
        };
        let index = self.world.below(0, faults.len() as u64) as usize;
        Some(faults[index])
    }

    /// Runs one store call `call` at `site` (on `instance_id`) through latency, faults and crash
    /// points; `describe` tells its result for the trace.
    async fn call<T>(
        &self,
        site: &'static str,
        kind: Kind,
        instance_id: &str,
        call: impl Future<Output = Result<T, StoreError>>,
        describe: impl FnOnce(&Result<T, StoreError>) -> String,
    ) -> Result<T, StoreError> {
        self.observed_call(site, kind, instance_id, call, |_| {}, describe)
            .await
    }

    /// [`Self::call`], with `observe` seeing the result the moment the store applied it.
    async fn observed_call<T>(
        &self,
        site: &'static str,
        kind: Kind,
        instance_id: &str,
        call: impl Future<Output = Result<T, StoreError>>,
        observe: impl FnOnce(&Result<T, StoreError>),
        describe: impl FnOnce(&Result<T, StoreError>) -> String,
    ) -> Result<T, StoreError> {
        let fault = self.fault(kind);
        let mut latency = self.world.millis(1, 15);
        if fault == Some(Fault::Stall) {
            latency += self.world.millis(500, 4_000);
        }
        if let Some(fault) = fault {
            self.world.count(format!("store fault: {}", fault.name()));
        }
        self.world.before_io(site, latency).await;
        match fault {
            Some(Fault::Unavailable) => {
                self.world
                    .trace(|| format!("{site} {instance_id} → unavailable (injected)"));
                return Err(StoreError::Unavailable("injected: throttled".to_owned()));
            }
            Some(Fault::Conflict) => {
                self.world
                    .trace(|| format!("{site} {instance_id} → conflict (injected)"));
                return Err(StoreError::Conflict {
                    instance_id: instance_id.to_owned(),
                });
            }
            _ => {}
        }
        let result = call.await;
        observe(&result);
        self.world
            .trace(|| format!("{site} {instance_id} {}", describe(&result)));
        self.world.after_io(site, self.world.millis(1, 10)).await;
        if fault == Some(Fault::AppliedAnswerLost) && result.is_ok() {
            self.world
                .trace(|| format!("{site} {instance_id}: the answer is lost (injected)"));
            return Err(match kind {
                Kind::Commit => StoreError::Conflict {
                    instance_id: instance_id.to_owned(),
                },
                _ => StoreError::Unavailable("injected: answer lost".to_owned()),
            });
        }
        result
    }
}

/// `ok`, `false`, or the error, for the trace.
fn show<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> String {
    match result {
        Ok(value) => format!("→ {value:?}"),
        Err(StoreError::Conflict { .. }) => "→ conflict".to_owned(),
        Err(error) => format!("→ error: {error}"),
    }
}

/// A commit, for the trace.
pub fn describe_commit(commit: &Commit) -> String {
    let mut parts = vec![format!("@seq {}", commit.at_seq)];
    if let Some(head) = &commit.head {
        parts.push(format!(
            "head {} (push_version {}, {})",
            head.seq, head.push_version, head.status
        ));
    }
    if let Some(base) = &commit.base {
        parts.push(format!(
            "base v{} ({}, reopened {:?})",
            base.instance.update_time, base.instance.status, base.task_versions
        ));
    }
    if let Some(decision) = &commit.decision {
        parts.push(format!(
            "decision {} v{} {}",
            decision.task_id, decision.task_version, decision.action
        ));
    }
    if let Some(delivery) = &commit.delivery {
        let verdict = match &delivery.verdict {
            Verdict::Accepted { position, .. } => format!("accepted at {position:?}"),
            Verdict::Duplicate { decision_id } => format!("duplicate of {decision_id}"),
            Verdict::Refused { reason, .. } => format!("refused: {reason}"),
            Verdict::Forwarded { task_label } => format!("forwarded ({task_label})"),
        };
        parts.push(format!("delivery {} {verdict}", delivery.delivery_id));
    }
    parts.join(", ")
}

impl InstanceStore for SimStore {
    async fn load(&self, instance_id: &str) -> Result<InstanceRecords, StoreError> {
        self.call(
            "store.load",
            Kind::Read,
            instance_id,
            self.inner.load(instance_id),
            |result| match result {
                Ok(records) => format!("→ seq {}", records.seq()),
                Err(error) => format!("→ error: {error}"),
            },
        )
        .await
    }

    async fn load_head(&self, instance_id: &str) -> Result<Option<Head>, StoreError> {
        self.call(
            "store.load_head",
            Kind::Read,
            instance_id,
            self.inner.load_head(instance_id),
            |result| match result {
                Ok(head) => format!("→ seq {:?}", head.as_ref().map(|head| head.seq)),
                Err(error) => format!("→ error: {error}"),
            },
        )
        .await
    }

    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        self.observed_call(
            "store.commit",
            Kind::Commit,
            &commit.instance_id,
            self.inner.commit(commit),
            |result| {
                if result.is_ok()
                    && let Some(by) = exec::current().map(|exec| exec.at)
                {
                    self.world.observe(|seen| {
                        seen.commits.push(Committed {
                            by,
                            commit: commit.clone(),
                        });
                    });
                }
            },
            |result| format!("{} {}", describe_commit(commit), show(result)),
        )
        .await
    }

    async fn claim_delivery(
        &self,
        instance_id: &str,
        delivery_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.call(
            "store.claim_delivery",
            Kind::Write,
            instance_id,
            self.inner
                .claim_delivery(instance_id, delivery_id, lease, now_ms),
            |result| format!("{delivery_id} for {} {}", lease.owner, show(result)),
        )
        .await
    }

    async fn finish_delivery(
        &self,
        instance_id: &str,
        delivery_id: &str,
        owner: &str,
        progress: DeliveryProgress,
    ) -> Result<(), StoreError> {
        self.call(
            "store.finish_delivery",
            Kind::Write,
            instance_id,
            self.inner
                .finish_delivery(instance_id, delivery_id, owner, progress),
            |result| format!("{delivery_id} {progress:?} {}", show(result)),
        )
        .await
    }

    async fn put_card(&self, instance_id: &str, card: &CardRecord) -> Result<bool, StoreError> {
        self.call(
            "store.put_card",
            Kind::Write,
            instance_id,
            self.inner.put_card(instance_id, card),
            |result| {
                format!(
                    "card {} of {} v{} {}",
                    short(&card.card_key),
                    card.task_id,
                    card.task_version,
                    show(result)
                )
            },
        )
        .await
    }

    async fn change_card(
        &self,
        instance_id: &str,
        card_key: &str,
        change: &CardChange,
    ) -> Result<bool, StoreError> {
        self.call(
            "store.change_card",
            Kind::Write,
            instance_id,
            self.inner.change_card(instance_id, card_key, change),
            |result| format!("card {} {change:?} {}", short(card_key), show(result)),
        )
        .await
    }

    async fn index_card(&self, message_id: &MessageId, card: &CardRef) -> Result<(), StoreError> {
        self.call(
            "store.index_card",
            Kind::Write,
            &card.instance_id,
            self.inner.index_card(message_id, card),
            |result| format!("{message_id} → {} {}", card.task_id, show(result)),
        )
        .await
    }

    async fn find_card(&self, message_id: &MessageId) -> Result<Option<CardRef>, StoreError> {
        self.call(
            "store.find_card",
            Kind::Read,
            "-",
            self.inner.find_card(message_id),
            |result| format!("{message_id} {}", show(result)),
        )
        .await
    }

    async fn claim_push(
        &self,
        instance_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.call(
            "store.claim_push",
            Kind::Write,
            instance_id,
            self.inner.claim_push(instance_id, lease, now_ms),
            |result| format!("by {} {}", lease.owner, show(result)),
        )
        .await
    }

    async fn release_push(
        &self,
        instance_id: &str,
        owner: &str,
        seq: Position,
    ) -> Result<PushRelease, StoreError> {
        self.call(
            "store.release_push",
            Kind::Write,
            instance_id,
            self.inner.release_push(instance_id, owner, seq),
            |result| format!("seq {seq} by {owner} {}", show(result)),
        )
        .await
    }

    async fn expire(
        &self,
        instance_id: &str,
        expiry: Expiry,
        cards: &[MessageId],
    ) -> Result<(), StoreError> {
        self.call(
            "store.expire",
            Kind::Write,
            instance_id,
            self.inner.expire(instance_id, expiry, cards),
            |result| format!("{expiry:?} {}", show(result)),
        )
        .await
    }

    async fn recently_changed(
        &self,
        since_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<RecentChange>, StoreError> {
        self.call(
            "store.recently_changed",
            Kind::Read,
            "-",
            self.inner.recently_changed(since_ms, until_ms),
            show,
        )
        .await
    }
}

/// The first 8 characters of a card key.
fn short(card_key: &str) -> &str {
    card_key.get(..8).unwrap_or(card_key)
}
