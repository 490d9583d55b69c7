//! DynamoDB snapshot store adapter.
//!
//! One table with a string partition key `pk` and no sort key (see `template.yaml`), holding two
//! kinds of items:
//!
//! | `pk`                     | other attributes                                                   |
//! |--------------------------|--------------------------------------------------------------------|
//! | `instance#<instance_id>` | `version` (N, 1 and up), `snapshot` (S, the [`Snapshot`] as JSON)  |
//! | `card#<message_id>`      | `instance_id` (S), `task_id` (S)                                   |
//!
//! Reads are strongly consistent, so a load always sees the latest save. Saves are conditional
//! puts: on `attribute_not_exists(pk)` for a never-saved snapshot (version 0), else on the stored
//! `version` still being the loaded one; a failed condition is [`StoreError::Conflict`].
//!
//! DynamoDB items are limited to 400 KB ([`MAX_ITEM_BYTES`], attribute names and values
//! together). A snapshot holds one whole external instance plus its decisions and cards: a few
//! KB usually, but an instance with hundreds of tasks, long links and many locales can come close.
//! A save that would exceed the limit fails with [`StoreError::TooLarge`] naming the size, before
//! anything is sent, and the stored snapshot stays as it was.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use feishu_bridge::ids::MessageId;

use super::{CardRef, Snapshot, SnapshotStore, StoreError};

/// DynamoDB's maximum item size: 400 KB, counting attribute names and values.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The partition key attribute.
const PK: &str = "pk";
/// The optimistic-concurrency version of a snapshot item (N).
const VERSION: &str = "version";
/// The snapshot JSON of a snapshot item (S).
const SNAPSHOT: &str = "snapshot";
/// The instance a card item points to (S).
const INSTANCE_ID: &str = "instance_id";
/// The task a card item points to (S).
const TASK_ID: &str = "task_id";

/// Upper bound of the bytes DynamoDB counts for a number attribute value (a `u64` has at most
/// 20 digits; DynamoDB counts about one byte per two digits plus one).
const MAX_NUMBER_BYTES: usize = 21;

/// Snapshots and card references in a DynamoDB table keyed by `pk` (S).
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table_name: String,
}

impl DynamoDbStore {
    /// A store over `table_name` (the `TABLE_NAME` of the function), through `client`.
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    /// The item with partition key `pk`, read consistently, if there is one.
    async fn get_item(
        &self,
        pk: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key(PK, AttributeValue::S(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| unavailable("GetItem", &self.table_name, &error))?;
        Ok(output.item)
    }
}

/// The partition key of the snapshot of `instance_id`.
fn snapshot_key(instance_id: &str) -> String {
    format!("instance#{instance_id}")
}

/// The partition key of the card reference of `message_id`.
fn card_key(message_id: &MessageId) -> String {
    format!("card#{message_id}")
}

impl SnapshotStore for DynamoDbStore {
    async fn load(&self, instance_id: &str) -> Result<Snapshot, StoreError> {
        match self.get_item(snapshot_key(instance_id)).await? {
            Some(item) => parse_snapshot(instance_id, &item),
            None => Ok(Snapshot::empty(instance_id)),
        }
    }

    async fn save(&self, snapshot: &Snapshot) -> Result<u64, StoreError> {
        let instance_id = &snapshot.instance_id;
        let corrupt = |reason: String| StoreError::Corrupt {
            instance_id: instance_id.clone(),
            reason,
        };
        let new_version = snapshot
            .version
            .checked_add(1)
            .ok_or_else(|| corrupt("the snapshot version cannot grow any further".to_owned()))?;
        let json = serde_json::to_string(snapshot).map_err(|error| {
            corrupt(format!(
                "the snapshot cannot be serialized ({:?} error)",
                error.classify()
            ))
        })?;
        let pk = snapshot_key(instance_id);
        let item_bytes =
            PK.len() + pk.len() + VERSION.len() + MAX_NUMBER_BYTES + SNAPSHOT.len() + json.len();
        if item_bytes > MAX_ITEM_BYTES {
            return Err(StoreError::TooLarge {
                instance_id: instance_id.to_owned(),
                bytes: item_bytes,
                limit: MAX_ITEM_BYTES,
            });
        }

        let request = self
            .client
            .put_item()
            .table_name(&self.table_name)
            .item(PK, AttributeValue::S(pk))
            .item(VERSION, AttributeValue::N(new_version.to_string()))
            .item(SNAPSHOT, AttributeValue::S(json));
        let request = if snapshot.version == 0 {
            request.condition_expression(format!("attribute_not_exists({PK})"))
        } else {
            request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(
                    ":expected",
                    AttributeValue::N(snapshot.version.to_string()),
                )
        };
        match request.send().await {
            Ok(_) => Ok(new_version),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict {
                    instance_id: instance_id.clone(),
                })
            }
            Err(error) => Err(unavailable("PutItem", &self.table_name, &error)),
        }
    }

    async fn put_card(&self, message_id: &MessageId, card: &CardRef) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table_name)
            .item(PK, AttributeValue::S(card_key(message_id)))
            .item(INSTANCE_ID, AttributeValue::S(card.instance_id.clone()))
            .item(TASK_ID, AttributeValue::S(card.task_id.clone()))
            .send()
            .await
            .map_err(|error| unavailable("PutItem", &self.table_name, &error))?;
        Ok(())
    }

    async fn find_card(&self, message_id: &MessageId) -> Result<Option<CardRef>, StoreError> {
        let Some(item) = self.get_item(card_key(message_id)).await? else {
            return Ok(None);
        };
        let instance_id = string_attribute(&item, INSTANCE_ID);
        let task_id = string_attribute(&item, TASK_ID);
        match (instance_id, task_id) {
            (Some(instance_id), Some(task_id)) => Ok(Some(CardRef {
                instance_id: instance_id.to_owned(),
                task_id: task_id.to_owned(),
            })),
            (instance_id, _) => Err(StoreError::Corrupt {
                instance_id: instance_id.unwrap_or("<unknown>").to_owned(),
                reason: format!(
                    "the item of bot card {message_id} lacks a string {INSTANCE_ID} or {TASK_ID}"
                ),
            }),
        }
    }
}

/// The snapshot stored in `item`, checked against the `instance_id` it was loaded for.
fn parse_snapshot(
    instance_id: &str,
    item: &HashMap<String, AttributeValue>,
) -> Result<Snapshot, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        instance_id: instance_id.to_owned(),
        reason,
    };
    let version = match item.get(VERSION) {
        Some(AttributeValue::N(digits)) => digits
            .parse::<u64>()
            .ok()
            .filter(|version| *version > 0)
            .ok_or_else(|| corrupt(format!("{VERSION} is not a positive integer")))?,
        _ => return Err(corrupt(format!("{VERSION} is missing or not a number"))),
    };
    let json = string_attribute(item, SNAPSHOT)
        .ok_or_else(|| corrupt(format!("{SNAPSHOT} is missing or not a string")))?;
    // serde_json's messages can quote the input: report only where and what kind of error.
    let mut snapshot: Snapshot = serde_json::from_str(json).map_err(|error| {
        corrupt(format!(
            "{SNAPSHOT} is not a valid snapshot ({:?} error at line {}, column {})",
            error.classify(),
            error.line(),
            error.column()
        ))
    })?;
    if snapshot.instance_id != instance_id {
        return Err(corrupt(format!("{SNAPSHOT} belongs to another instance")));
    }
    snapshot.version = version;
    Ok(snapshot)
}

/// The string value of attribute `name`, if it is present and a string.
fn string_attribute<'item>(
    item: &'item HashMap<String, AttributeValue>,
    name: &str,
) -> Option<&'item str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

/// [`StoreError::Unavailable`] for a failed `operation` on `table`: the failure's kind and AWS
/// error code, never the request (items) or the service's free-text message.
fn unavailable<E: ProvideErrorMetadata, R>(
    operation: &str,
    table: &str,
    error: &SdkError<E, R>,
) -> StoreError {
    let reason = match error {
        SdkError::ServiceError(_) => format!(
            "DynamoDB answered {}",
            error.code().unwrap_or("an error without a code")
        ),
        SdkError::TimeoutError(_) => "the request timed out".to_owned(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            "the connection timed out".to_owned()
        }
        SdkError::DispatchFailure(failure) if failure.is_io() => "the connection failed".to_owned(),
        SdkError::DispatchFailure(_) => "the request could not be sent".to_owned(),
        SdkError::ResponseError(_) => "the response could not be read".to_owned(),
        SdkError::ConstructionFailure(_) => "the request could not be built".to_owned(),
        _ => "the request failed".to_owned(),
    };
    StoreError::Unavailable(format!("DynamoDB {operation} on table {table}: {reason}"))
}
