//! In-memory instance store: the local default, the test double and the simulation's store. State
//! lives as long as the process (one warm Lambda container, or one `cargo lambda watch` session).
//! Its conditions are the DynamoDB adapter's, which a differential test against moto checks.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::ids::MessageId;

use super::{
    CardChange, CardRecord, CardRef, Commit, DeliveryProgress, Expiry, Head, InstanceRecords,
    InstanceStore, Lease, Position, PushRelease, RecentChange, StoreError,
};

/// Instance records and the card index in process memory.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    instances: HashMap<String, InstanceRecords>,
    cards: HashMap<MessageId, (CardRef, Option<u64>)>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("in-memory store lock poisoned".to_owned()))
    }

    /// When the card index entry of `message_id` expires, if it exists (for tests).
    pub fn card_expiry(&self, message_id: &MessageId) -> Option<Option<u64>> {
        let state = self.state().ok()?;
        state
            .cards
            .get(message_id)
            .map(|(_, expires_at)| *expires_at)
    }
}

fn conflict(instance_id: &str) -> StoreError {
    StoreError::Conflict {
        instance_id: instance_id.to_owned(),
    }
}

impl InstanceStore for InMemoryStore {
    async fn load(&self, instance_id: &str) -> Result<InstanceRecords, StoreError> {
        let state = self.state()?;
        Ok(state
            .instances
            .get(instance_id)
            .cloned()
            .unwrap_or_else(|| InstanceRecords::empty(instance_id)))
    }

    async fn load_head(&self, instance_id: &str) -> Result<Option<Head>, StoreError> {
        let state = self.state()?;
        Ok(state
            .instances
            .get(instance_id)
            .and_then(|records| records.head.clone()))
    }

    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let id = commit.instance_id.as_str();
        let records = state
            .instances
            .entry(id.to_owned())
            .or_insert_with(|| InstanceRecords::empty(id));
        // The mutant drops the conditions of a commit that writes an accepted decision.
        let conditional =
            cfg!(not(feature = "mutant-decision-write-unconditional")) || commit.decision.is_none();
        if conditional && commit.head.is_some() && records.seq() != commit.at_seq {
            return Err(conflict(id));
        }
        if let Some(decision) = commit.decision.as_ref().filter(|_| conditional) {
            let exists = records.decisions.iter().any(|stored| {
                stored.task_id == decision.task_id && stored.task_version == decision.task_version
            });
            if exists {
                return Err(conflict(id));
            }
        }
        if let Some(delivery) = &commit.delivery
            && records.delivery(&delivery.delivery_id).is_some()
        {
            return Err(conflict(id));
        }
        commit.apply_to(records);
        Ok(())
    }

    async fn claim_delivery(
        &self,
        instance_id: &str,
        delivery_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let Some(delivery) = state.instances.get_mut(instance_id).and_then(|records| {
            records
                .deliveries
                .iter_mut()
                .find(|delivery| delivery.delivery_id == delivery_id)
        }) else {
            return Ok(false);
        };
        if delivery
            .lease
            .as_ref()
            .is_some_and(|held| held.is_live(now_ms))
        {
            return Ok(false);
        }
        delivery.lease = Some(lease.clone());
        Ok(true)
    }

    async fn finish_delivery(
        &self,
        instance_id: &str,
        delivery_id: &str,
        owner: &str,
        progress: DeliveryProgress,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let delivery = state
            .instances
            .get_mut(instance_id)
            .and_then(|records| {
                records
                    .deliveries
                    .iter_mut()
                    .find(|delivery| delivery.delivery_id == delivery_id)
            })
            .filter(|delivery| delivery.lease.as_ref().is_some_and(|l| l.owner == owner))
            .ok_or_else(|| conflict(instance_id))?;
        delivery.card_done |= progress.card_done;
        delivery.pushed |= progress.pushed;
        delivery.published |= progress.published;
        delivery.lease = None;
        Ok(())
    }

    async fn put_card(&self, instance_id: &str, card: &CardRecord) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let records = state
            .instances
            .entry(instance_id.to_owned())
            .or_insert_with(|| InstanceRecords::empty(instance_id));
        if records
            .cards
            .iter()
            .any(|stored| stored.card_key == card.card_key)
        {
            return Ok(false);
        }
        records.cards.push(card.clone());
        Ok(true)
    }

    async fn change_card(
        &self,
        instance_id: &str,
        card_key: &str,
        change: &CardChange,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let Some(records) = state.instances.get_mut(instance_id) else {
            return Ok(false);
        };
        let seq = records.seq();
        let Some(card) = records
            .cards
            .iter_mut()
            .find(|card| card.card_key == card_key)
        else {
            return Ok(false);
        };
        match change {
            CardChange::Claim {
                at_seq,
                target,
                lease,
                now_ms,
            } => {
                let claimed = card
                    .claim
                    .as_ref()
                    .is_some_and(|held| held.is_live(*now_ms));
                // A claim that ran out unsettled leaves the card's status unknown: it may be
                // claimed again whatever status was recorded before.
                let shows_target = card.claim.is_none() && card.status.as_ref() == Some(target);
                if seq != *at_seq || claimed || shows_target {
                    return Ok(false);
                }
                card.claim = Some(lease.clone());
            }
            CardChange::Settle {
                owner,
                status,
                refused,
            } => {
                if card.claim.as_ref().is_none_or(|held| held.owner != *owner) {
                    return Ok(false);
                }
                if status.is_some() {
                    card.status.clone_from(status);
                }
                if refused.is_some() {
                    card.refused.clone_from(refused);
                }
                card.claim = None;
            }
            CardChange::Unsettle { owner } => {
                if card.claim.as_ref().is_none_or(|held| held.owner != *owner) {
                    return Ok(false);
                }
                card.status = None;
                card.claim = None;
            }
            CardChange::Sent { message_id } => {
                card.sent = true;
                // An id a callback from the card told is the card's own: a send's answer (which
                // a repeated uuid may fill with another id) does not replace it.
                if card.message_id.is_none() {
                    card.message_id.clone_from(message_id);
                }
            }
            CardChange::LearnMessageId(message_id) => {
                if card.message_id.is_some() {
                    return Ok(false);
                }
                card.message_id = Some(message_id.clone());
            }
        }
        Ok(true)
    }

    async fn index_card(&self, message_id: &MessageId, card: &CardRef) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let expires_at = state
            .cards
            .get(message_id)
            .and_then(|(_, expires_at)| *expires_at);
        state
            .cards
            .insert(message_id.clone(), (card.clone(), expires_at));
        Ok(())
    }

    async fn find_card(&self, message_id: &MessageId) -> Result<Option<CardRef>, StoreError> {
        let state = self.state()?;
        Ok(state.cards.get(message_id).map(|(card, _)| card.clone()))
    }

    async fn claim_push(
        &self,
        instance_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let Some(head) = state
            .instances
            .get_mut(instance_id)
            .and_then(|records| records.head.as_mut())
        else {
            return Ok(false);
        };
        let held = head
            .push_lease
            .as_ref()
            .is_some_and(|held| held.is_live(now_ms) && held.owner != lease.owner);
        if held {
            return Ok(false);
        }
        head.push_lease = Some(lease.clone());
        Ok(true)
    }

    async fn release_push(
        &self,
        instance_id: &str,
        owner: &str,
        seq: Position,
    ) -> Result<PushRelease, StoreError> {
        let mut state = self.state()?;
        let Some(head) = state
            .instances
            .get_mut(instance_id)
            .and_then(|records| records.head.as_mut())
        else {
            return Ok(PushRelease::Lost);
        };
        if head
            .push_lease
            .as_ref()
            .is_none_or(|held| held.owner != owner)
        {
            return Ok(PushRelease::Lost);
        }
        if head.seq != seq {
            return Ok(PushRelease::Moved);
        }
        head.pushed_seq = head.pushed_seq.max(seq);
        head.push_lease = None;
        Ok(PushRelease::Released)
    }

    async fn expire(
        &self,
        instance_id: &str,
        expiry: Expiry,
        cards: &[MessageId],
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if let Some(records) = state.instances.get_mut(instance_id) {
            if let Some(head) = &mut records.head {
                head.expires_at = expiry.tombstone_at;
            }
            if let Some(base) = &mut records.base {
                base.expires_at = expiry.records_at;
            }
            for decision in &mut records.decisions {
                decision.expires_at = expiry.records_at;
            }
            for delivery in &mut records.deliveries {
                delivery.expires_at = expiry.records_at;
            }
            for card in &mut records.cards {
                card.expires_at = expiry.records_at;
            }
        }
        for message_id in cards {
            if let Some((_, expires_at)) = state.cards.get_mut(message_id) {
                *expires_at = expiry.tombstone_at;
            }
        }
        Ok(())
    }

    async fn recently_changed(
        &self,
        since_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<RecentChange>, StoreError> {
        let state = self.state()?;
        let mut changes: Vec<_> = state
            .instances
            .iter()
            .filter_map(|(instance_id, records)| {
                let head = records.head.as_ref()?;
                (since_ms..until_ms)
                    .contains(&head.touched_at)
                    .then(|| RecentChange {
                        instance_id: instance_id.clone(),
                        touched_at: head.touched_at,
                    })
            })
            .collect();
        changes.sort_by(|a, b| (a.touched_at, &a.instance_id).cmp(&(b.touched_at, &b.instance_id)));
        Ok(changes)
    }
}
