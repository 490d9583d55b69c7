//! In-memory snapshot store: the local default and the test double. State lives as long as the
//! process (one warm Lambda container, or one `cargo lambda watch` session).

use std::collections::HashMap;
use std::sync::Mutex;

use feishu_bridge::ids::MessageId;

use super::{CardRef, Snapshot, SnapshotStore, StoreError};

/// Snapshots and card references in process memory, with the same optimistic-version semantics
/// as the DynamoDB adapter.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    snapshots: Mutex<HashMap<String, Snapshot>>,
    cards: Mutex<HashMap<MessageId, CardRef>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned() -> StoreError {
    StoreError::Unavailable("in-memory store lock poisoned".to_owned())
}

impl SnapshotStore for InMemoryStore {
    async fn load(&self, instance_id: &str) -> Result<Snapshot, StoreError> {
        let snapshots = self.snapshots.lock().map_err(|_| poisoned())?;
        Ok(snapshots
            .get(instance_id)
            .cloned()
            .unwrap_or_else(|| Snapshot::empty(instance_id)))
    }

    async fn save(&self, snapshot: &Snapshot) -> Result<u64, StoreError> {
        let mut snapshots = self.snapshots.lock().map_err(|_| poisoned())?;
        let stored_version = snapshots
            .get(&snapshot.instance_id)
            .map_or(0, |stored| stored.version);
        if stored_version != snapshot.version {
            return Err(StoreError::Conflict {
                instance_id: snapshot.instance_id.clone(),
            });
        }
        let mut saved = snapshot.clone();
        saved.version = stored_version + 1;
        snapshots.insert(saved.instance_id.clone(), saved);
        Ok(stored_version + 1)
    }

    async fn put_card(&self, message_id: &MessageId, card: &CardRef) -> Result<(), StoreError> {
        let mut cards = self.cards.lock().map_err(|_| poisoned())?;
        cards.insert(message_id.clone(), card.clone());
        Ok(())
    }

    async fn find_card(&self, message_id: &MessageId) -> Result<Option<CardRef>, StoreError> {
        let cards = self.cards.lock().map_err(|_| poisoned())?;
        Ok(cards.get(message_id).cloned())
    }
}
