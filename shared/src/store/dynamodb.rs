//! DynamoDB instance store adapter.
//!
//! One table with a string partition key `pk` and a string sort key `sk` (template.yaml), records
//! as native DynamoDB attributes (`serde_dynamo`):
//!
//! | `pk`                     | `sk`                             | record |
//! |--------------------------|----------------------------------|--------|
//! | `inst#<instance_id>`     | `head`                           | [`Head`]: position, versions, derived status; the tombstone |
//! | `inst#<instance_id>`     | `base`                           | [`Base`]: the company's instance as sent |
//! | `inst#<instance_id>`     | `dec#<task_id>#<task_version>`   | [`AcceptedDecision`] (task version zero-padded to 20 digits) |
//! | `inst#<instance_id>`     | `dlv#<delivery_id>`              | [`Delivery`]: one callback's claim and result |
//! | `inst#<instance_id>`     | `card#<card_key>`                | [`CardRecord`] |
//! | `card#<message_id>`      | `card`                           | [`CardRef`]: the card index |
//!
//! The sparse global secondary index [`RECENT_INDEX`] (`touched_hour` N, `touched_at` N) holds only
//! heads: reconciliation finds recently changed instances without scanning the table. Items get
//! `expires_at` (N, Unix seconds, the table's TTL attribute) once their instance is final.
//!
//! Reads are strongly consistent. [`InstanceStore::load`] reads the head first (`GetItem`), then
//! the partition (`Query`), and leaves out records at positions past the head: a transaction's
//! writes are visible to a `GetItem` all at once, so everything at or before the head's position
//! is in the query. Writes are conditional (`TransactWriteItems` when a commit touches several
//! items); a failed condition or a conflicting transaction is [`StoreError::Conflict`].

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ids::MessageId;

use super::{
    AcceptedDecision, Base, CardChange, CardRecord, CardRef, Commit, DeliveryProgress, Expiry,
    Head, InstanceRecords, InstanceStore, Lease, Position, PushRelease, RecentChange, StoreError,
    hour_of,
};

/// DynamoDB's maximum item size: 400 KB, counting attribute names and values.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The recent-changes index (sparse: only heads carry its keys).
pub const RECENT_INDEX: &str = "recent-changes";

const PK: &str = "pk";
const SK: &str = "sk";
const HEAD: &str = "head";
const BASE: &str = "base";
const DECISION_PREFIX: &str = "dec#";
const DELIVERY_PREFIX: &str = "dlv#";
const CARD_PREFIX: &str = "card#";
const CARD_INDEX_SK: &str = "card";

/// How often `load` re-reads when the partition moved past the head it read first.
const LOAD_ATTEMPTS: usize = 3;

type Item = HashMap<String, AttributeValue>;

/// Instance records in a DynamoDB table keyed by `pk` (S) and `sk` (S).
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table_name: String,
}

impl DynamoDbStore {
    /// A store over `table_name`, through `client` (configure its operation timeouts).
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table_name: table_name.into(),
        }
    }

    async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table_name)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| unavailable("GetItem", &self.table_name, &error))?;
        Ok(output.item)
    }

    /// Every item of partition `pk`, read consistently.
    async fn query(&self, pk: String) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table_name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(&pk))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| unavailable("Query", &self.table_name, &error))?;
            items.extend(output.items.unwrap_or_default());
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    async fn load_once(&self, instance_id: &str) -> Result<Option<InstanceRecords>, StoreError> {
        let pk = instance_key(instance_id);
        let head: Option<Head> = match self.get(pk.clone(), HEAD).await? {
            Some(item) => Some(parse(instance_id, HEAD, item)?),
            None => None,
        };
        let seq = head.as_ref().map_or(0, |head| head.seq);
        let mut records = InstanceRecords {
            head,
            ..InstanceRecords::empty(instance_id)
        };
        for item in self.query(pk).await? {
            let sk = match item.get(SK) {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => return Err(corrupt(instance_id, "an item without a string sk")),
            };
            if sk == HEAD {
                continue;
            } else if sk == BASE {
                let base: Base = parse(instance_id, &sk, item)?;
                if base.position > seq {
                    return Ok(None);
                }
                records.base = Some(base);
            } else if sk.starts_with(DECISION_PREFIX) {
                let decision: AcceptedDecision = parse(instance_id, &sk, item)?;
                if decision.position <= seq {
                    records.decisions.push(decision);
                }
            } else if sk.starts_with(DELIVERY_PREFIX) {
                records.deliveries.push(parse(instance_id, &sk, item)?);
            } else if sk.starts_with(CARD_PREFIX) {
                records.cards.push(parse(instance_id, &sk, item)?);
            }
        }
        records.decisions.sort_by_key(|decision| decision.position);
        Ok(Some(records))
    }

    /// Runs one conditional write: alone, or as a transaction of several.
    async fn write(
        &self,
        instance_id: &str,
        mut items: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        if items.len() == 1 {
            let item = items.remove(0);
            if let Some(put) = item.put {
                let result = self
                    .client
                    .put_item()
                    .table_name(put.table_name)
                    .set_item(Some(put.item))
                    .set_condition_expression(put.condition_expression)
                    .set_expression_attribute_names(put.expression_attribute_names)
                    .set_expression_attribute_values(put.expression_attribute_values)
                    .send()
                    .await;
                return match result {
                    Ok(_) => Ok(()),
                    Err(error) if is_condition_failure(&error) => Err(conflict(instance_id)),
                    Err(error) => Err(unavailable("PutItem", &self.table_name, &error)),
                };
            }
            items.push(item);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_transaction_canceled_exception()) =>
            {
                Err(conflict(instance_id))
            }
            Err(error) => Err(unavailable("TransactWriteItems", &self.table_name, &error)),
        }
    }

    /// A conditional `UpdateItem`; `Ok(false)` when the condition failed.
    async fn update(
        &self,
        key: (String, String),
        expression: &str,
        condition: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table_name)
            .key(PK, s(key.0))
            .key(SK, s(key.1))
            .update_expression(expression)
            .condition_expression(condition);
        for (name, attribute) in names {
            request = request.expression_attribute_names(*name, *attribute);
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(unavailable("UpdateItem", &self.table_name, &error)),
        }
    }

    fn put(
        &self,
        instance_id: &str,
        pk: String,
        sk: String,
        record: &impl Serialize,
        create_only: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let item = item(instance_id, pk, sk, record)?;
        let mut put = Put::builder()
            .table_name(&self.table_name)
            .set_item(Some(item));
        if create_only {
            put = put
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK);
        }
        let put = put
            .build()
            .map_err(|error| build_failure(instance_id, &error))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The head update of a commit: every field but `pushed_seq` and `push_lease`, which only
    /// the push lease's holder changes.
    fn head_update(&self, commit: &Commit, head: &Head) -> Result<TransactWriteItem, StoreError> {
        let id = commit.instance_id.as_str();
        let fields = to_attributes(id, head)?;
        let mut update = Update::builder()
            .table_name(&self.table_name)
            .key(PK, s(instance_key(id)))
            .key(SK, s(HEAD));
        let mut sets = vec!["pushed_seq = if_not_exists(pushed_seq, :zero)".to_owned()];
        update = update.expression_attribute_values(":zero", n(0));
        for (index, (name, value)) in fields.into_iter().enumerate() {
            if name == "pushed_seq" || name == "push_lease" {
                continue;
            }
            sets.push(format!("#f{index} = :f{index}"));
            update = update
                .expression_attribute_names(format!("#f{index}"), name)
                .expression_attribute_values(format!(":f{index}"), value);
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if head.expires_at.is_none() {
            expression.push_str(" REMOVE expires_at");
        }
        update = update.update_expression(expression);
        update = if commit.at_seq == 0 {
            update
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK)
        } else {
            update
                .condition_expression("seq = :at")
                .expression_attribute_values(":at", n(commit.at_seq))
        };
        let update = update.build().map_err(|error| build_failure(id, &error))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

impl InstanceStore for DynamoDbStore {
    async fn load(&self, instance_id: &str) -> Result<InstanceRecords, StoreError> {
        for _ in 0..LOAD_ATTEMPTS {
            if let Some(records) = self.load_once(instance_id).await? {
                return Ok(records);
            }
        }
        Err(StoreError::Conflict {
            instance_id: instance_id.to_owned(),
        })
    }

    async fn load_head(&self, instance_id: &str) -> Result<Option<Head>, StoreError> {
        match self.get(instance_key(instance_id), HEAD).await? {
            Some(item) => Ok(Some(parse(instance_id, HEAD, item)?)),
            None => Ok(None),
        }
    }

    async fn commit(&self, commit: &Commit) -> Result<(), StoreError> {
        let id = commit.instance_id.as_str();
        let pk = instance_key(id);
        let mut items = Vec::new();
        if let Some(head) = &commit.head {
            items.push(self.head_update(commit, head)?);
        }
        if let Some(base) = &commit.base {
            items.push(self.put(id, pk.clone(), BASE.to_owned(), base, false)?);
        }
        if let Some(decision) = &commit.decision {
            let sk = decision_key(&decision.task_id, decision.task_version.as_millis());
            items.push(self.put(id, pk.clone(), sk, decision, true)?);
        }
        if let Some(delivery) = &commit.delivery {
            let sk = format!("{DELIVERY_PREFIX}{}", delivery.delivery_id);
            items.push(self.put(id, pk.clone(), sk, delivery, true)?);
        }
        if items.is_empty() {
            return Ok(());
        }
        self.write(id, items).await
    }

    async fn claim_delivery(
        &self,
        instance_id: &str,
        delivery_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.update(
            (
                instance_key(instance_id),
                format!("{DELIVERY_PREFIX}{delivery_id}"),
            ),
            "SET #lease = :lease",
            "attribute_exists(#pk) AND (attribute_not_exists(#lease) OR #lease.#until <= :now)",
            &[("#pk", PK), ("#lease", "lease"), ("#until", "until")],
            vec![
                (":lease", lease_value(instance_id, lease)?),
                (":now", n(now_ms)),
            ],
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
        let flags = [
            ("card_done", progress.card_done),
            ("pushed", progress.pushed),
            ("published", progress.published),
        ];
        let sets: Vec<String> = flags
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| format!("{name} = :true"))
            .collect();
        let mut expression = String::new();
        let mut values = vec![(":owner", s(owner))];
        if !sets.is_empty() {
            expression = format!("SET {} ", sets.join(", "));
            values.push((":true", AttributeValue::Bool(true)));
        }
        expression.push_str("REMOVE #lease");
        let done = self
            .update(
                (
                    instance_key(instance_id),
                    format!("{DELIVERY_PREFIX}{delivery_id}"),
                ),
                &expression,
                "#lease.#owner = :owner",
                &[("#lease", "lease"), ("#owner", "owner")],
                values,
            )
            .await?;
        if done {
            Ok(())
        } else {
            Err(conflict(instance_id))
        }
    }

    async fn put_card(&self, instance_id: &str, card: &CardRecord) -> Result<bool, StoreError> {
        let sk = format!("{CARD_PREFIX}{}", card.card_key);
        let put = self.put(instance_id, instance_key(instance_id), sk, card, true)?;
        match self.write(instance_id, vec![put]).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    async fn change_card(
        &self,
        instance_id: &str,
        card_key: &str,
        change: &CardChange,
    ) -> Result<bool, StoreError> {
        let key = (
            instance_key(instance_id),
            format!("{CARD_PREFIX}{card_key}"),
        );
        match change {
            CardChange::Claim {
                at_seq,
                target,
                lease,
                now_ms,
            } => {
                let check = ConditionCheck::builder()
                    .table_name(&self.table_name)
                    .key(PK, s(instance_key(instance_id)))
                    .key(SK, s(HEAD))
                    // Position 0 is an instance without a head (as the in-memory store reads it).
                    .condition_expression(if *at_seq == 0 {
                        "attribute_not_exists(seq) OR seq = :at"
                    } else {
                        "seq = :at"
                    })
                    .expression_attribute_values(":at", n(*at_seq))
                    .build()
                    .map_err(|error| build_failure(instance_id, &error))?;
                let update = Update::builder()
                    .table_name(&self.table_name)
                    .key(PK, s(key.0))
                    .key(SK, s(key.1))
                    .update_expression("SET #claim = :claim")
                    .condition_expression(
                        "attribute_exists(#pk) \
                         AND ((attribute_not_exists(#claim) \
                               AND (attribute_not_exists(#status) OR #status <> :target)) \
                              OR #claim.#until <= :now)",
                    )
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#claim", "claim")
                    .expression_attribute_names("#until", "until")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":target", s(target.as_str()))
                    .expression_attribute_values(":claim", lease_value(instance_id, lease)?)
                    .expression_attribute_values(":now", n(*now_ms))
                    .build()
                    .map_err(|error| build_failure(instance_id, &error))?;
                let items = vec![
                    TransactWriteItem::builder().condition_check(check).build(),
                    TransactWriteItem::builder().update(update).build(),
                ];
                match self.write(instance_id, items).await {
                    Ok(()) => Ok(true),
                    Err(StoreError::Conflict { .. }) => Ok(false),
                    Err(error) => Err(error),
                }
            }
            CardChange::Settle {
                owner,
                status,
                refused,
            } => {
                let mut sets = Vec::new();
                let mut values = vec![(":owner", s(owner))];
                let mut names = vec![("#claim", "claim"), ("#owner", "owner")];
                if let Some(status) = status {
                    sets.push("#status = :status");
                    names.push(("#status", "status"));
                    values.push((":status", s(status.as_str())));
                }
                if let Some(refused) = refused {
                    sets.push("refused = :refused");
                    values.push((":refused", value(instance_id, refused)?));
                }
                let mut expression = String::new();
                if !sets.is_empty() {
                    expression = format!("SET {} ", sets.join(", "));
                }
                expression.push_str("REMOVE #claim");
                self.update(key, &expression, "#claim.#owner = :owner", &names, values)
                    .await
            }
            CardChange::Unsettle { owner } => {
                self.update(
                    key,
                    "REMOVE #claim, #status",
                    "#claim.#owner = :owner",
                    &[
                        ("#claim", "claim"),
                        ("#owner", "owner"),
                        ("#status", "status"),
                    ],
                    vec![(":owner", s(owner))],
                )
                .await
            }
            CardChange::Sent { message_id } => {
                let (expression, mut values) = match message_id {
                    Some(id) => (
                        "SET sent = :true, message_id = if_not_exists(message_id, :id)",
                        vec![(":id", s(id.as_str()))],
                    ),
                    None => ("SET sent = :true", Vec::new()),
                };
                values.push((":true", AttributeValue::Bool(true)));
                self.update(
                    key,
                    expression,
                    "attribute_exists(#pk)",
                    &[("#pk", PK)],
                    values,
                )
                .await
            }
            CardChange::LearnMessageId(message_id) => {
                self.update(
                    key,
                    "SET message_id = :id",
                    "attribute_exists(#pk) AND attribute_not_exists(message_id)",
                    &[("#pk", PK)],
                    vec![(":id", s(message_id.as_str()))],
                )
                .await
            }
        }
    }

    async fn index_card(&self, message_id: &MessageId, card: &CardRef) -> Result<(), StoreError> {
        let put = self.put(
            &card.instance_id,
            card_index_key(message_id),
            CARD_INDEX_SK.to_owned(),
            card,
            false,
        )?;
        self.write(&card.instance_id, vec![put]).await
    }

    async fn find_card(&self, message_id: &MessageId) -> Result<Option<CardRef>, StoreError> {
        match self.get(card_index_key(message_id), CARD_INDEX_SK).await? {
            Some(item) => Ok(Some(parse(
                &format!("(card {message_id})"),
                CARD_INDEX_SK,
                item,
            )?)),
            None => Ok(None),
        }
    }

    async fn claim_push(
        &self,
        instance_id: &str,
        lease: &Lease,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.update(
            (instance_key(instance_id), HEAD.to_owned()),
            "SET #lease = :lease",
            "attribute_exists(#pk) AND (attribute_not_exists(#lease) \
             OR #lease.#until <= :now OR #lease.#owner = :owner)",
            &[
                ("#pk", PK),
                ("#lease", "push_lease"),
                ("#until", "until"),
                ("#owner", "owner"),
            ],
            vec![
                (":lease", lease_value(instance_id, lease)?),
                (":now", n(now_ms)),
                (":owner", s(&lease.owner)),
            ],
        )
        .await
    }

    async fn release_push(
        &self,
        instance_id: &str,
        owner: &str,
        seq: Position,
    ) -> Result<PushRelease, StoreError> {
        let released = self
            .update(
                (instance_key(instance_id), HEAD.to_owned()),
                "SET pushed_seq = :seq REMOVE #lease",
                "#lease.#owner = :owner AND seq = :seq",
                &[("#lease", "push_lease"), ("#owner", "owner")],
                vec![(":owner", s(owner)), (":seq", n(seq))],
            )
            .await?;
        if released {
            return Ok(PushRelease::Released);
        }
        let head = self.load_head(instance_id).await?;
        let holds = head
            .as_ref()
            .and_then(|head| head.push_lease.as_ref())
            .is_some_and(|lease| lease.owner == owner);
        Ok(if holds {
            PushRelease::Moved
        } else {
            PushRelease::Lost
        })
    }

    async fn expire(
        &self,
        instance_id: &str,
        expiry: Expiry,
        cards: &[MessageId],
    ) -> Result<(), StoreError> {
        let pk = instance_key(instance_id);
        let mut keys: Vec<(String, String, Option<u64>)> = Vec::new();
        for item in self.query(pk.clone()).await? {
            if let Some(AttributeValue::S(sk)) = item.get(SK) {
                let at = if sk == HEAD {
                    expiry.tombstone_at
                } else {
                    expiry.records_at
                };
                keys.push((pk.clone(), sk.clone(), at));
            }
        }
        for message_id in cards {
            keys.push((
                card_index_key(message_id),
                CARD_INDEX_SK.to_owned(),
                expiry.tombstone_at,
            ));
        }
        for (pk, sk, at) in keys {
            let (expression, values) = match at {
                Some(at) => ("SET expires_at = :at", vec![(":at", n(at))]),
                None => ("REMOVE expires_at", Vec::new()),
            };
            self.update(
                (pk, sk),
                expression,
                "attribute_exists(#pk)",
                &[("#pk", PK)],
                values,
            )
            .await?;
        }
        Ok(())
    }

    async fn recently_changed(
        &self,
        since_ms: u64,
        until_ms: u64,
    ) -> Result<Vec<RecentChange>, StoreError> {
        let mut changes = Vec::new();
        if until_ms <= since_ms {
            return Ok(changes);
        }
        for hour in hour_of(since_ms)..=hour_of(until_ms - 1) {
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table_name)
                    .index_name(RECENT_INDEX)
                    .key_condition_expression(
                        "touched_hour = :hour AND touched_at BETWEEN :since AND :last",
                    )
                    .expression_attribute_values(":hour", n(hour))
                    .expression_attribute_values(":since", n(since_ms))
                    .expression_attribute_values(":last", n(until_ms - 1))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|error| unavailable("Query", &self.table_name, &error))?;
                for item in output.items.unwrap_or_default() {
                    let (Some(AttributeValue::S(pk)), Some(AttributeValue::N(at))) =
                        (item.get(PK), item.get("touched_at"))
                    else {
                        continue;
                    };
                    if let (Some(instance_id), Ok(touched_at)) =
                        (pk.strip_prefix("inst#"), at.parse())
                    {
                        changes.push(RecentChange {
                            instance_id: instance_id.to_owned(),
                            touched_at,
                        });
                    }
                }
                match output.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
        }
        changes.sort_by(|a, b| (a.touched_at, &a.instance_id).cmp(&(b.touched_at, &b.instance_id)));
        Ok(changes)
    }
}

/// Creates `table_name` with the keys and index this adapter expects, as template.yaml declares
/// them (on-demand billing): for local stacks and tests against moto.
pub async fn create_table(client: &Client, table_name: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let build = |error: aws_sdk_dynamodb::error::BuildError| build_failure(table_name, &error);
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .map_err(build)
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build)
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(RECENT_INDEX)
        .key_schema(key("touched_hour", KeyType::Hash)?)
        .key_schema(key("touched_at", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(build)?;
    client
        .create_table()
        .table_name(table_name)
        .attribute_definitions(attribute(PK, ScalarAttributeType::S)?)
        .attribute_definitions(attribute(SK, ScalarAttributeType::S)?)
        .attribute_definitions(attribute("touched_hour", ScalarAttributeType::N)?)
        .attribute_definitions(attribute("touched_at", ScalarAttributeType::N)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .global_secondary_indexes(index)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|error| unavailable("CreateTable", table_name, &error))?;
    Ok(())
}

/// The partition key of instance `instance_id`.
pub fn instance_key(instance_id: &str) -> String {
    format!("inst#{instance_id}")
}

/// The partition key of the card index entry of `message_id`.
pub fn card_index_key(message_id: &MessageId) -> String {
    format!("{CARD_PREFIX}{message_id}")
}

/// The sort key of the decision on `task_version` of `task_id`.
fn decision_key(task_id: &str, task_version: u64) -> String {
    format!("{DECISION_PREFIX}{task_id}#{task_version:020}")
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn corrupt(instance_id: &str, reason: &str) -> StoreError {
    StoreError::Corrupt {
        instance_id: instance_id.to_owned(),
        reason: reason.to_owned(),
    }
}

fn conflict(instance_id: &str) -> StoreError {
    StoreError::Conflict {
        instance_id: instance_id.to_owned(),
    }
}

fn build_failure(instance_id: &str, error: &impl std::fmt::Display) -> StoreError {
    corrupt(
        instance_id,
        &format!("a request could not be built: {error}"),
    )
}

/// A record's attributes, checked against the item size limit with its keys.
fn to_attributes(instance_id: &str, record: &impl Serialize) -> Result<Item, StoreError> {
    serde_dynamo::to_item(record).map_err(|_| corrupt(instance_id, "a record cannot be written"))
}

/// One attribute value of a record part.
fn value(instance_id: &str, record: &impl Serialize) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(record)
        .map_err(|_| corrupt(instance_id, "a record value cannot be written"))
}

fn lease_value(instance_id: &str, lease: &Lease) -> Result<AttributeValue, StoreError> {
    value(instance_id, lease)
}

/// The item of `record` under `pk` / `sk`, refused when over [`MAX_ITEM_BYTES`].
fn item(
    instance_id: &str,
    pk: String,
    sk: String,
    record: &impl Serialize,
) -> Result<Item, StoreError> {
    let mut item = to_attributes(instance_id, record)?;
    item.insert(PK.to_owned(), s(pk));
    item.insert(SK.to_owned(), s(sk));
    let bytes = item_bytes(&item);
    if bytes > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge {
            instance_id: instance_id.to_owned(),
            bytes,
            limit: MAX_ITEM_BYTES,
        });
    }
    Ok(item)
}

/// The record stored in `item` (the one under sort key `sk` of `instance_id`).
fn parse<T: DeserializeOwned>(
    instance_id: &str,
    sk: &str,
    mut item: Item,
) -> Result<T, StoreError> {
    item.remove(PK);
    item.remove(SK);
    let kind = sk.split('#').next().unwrap_or(sk);
    // serde_dynamo's messages can quote values: report only which record is unreadable.
    serde_dynamo::from_item(item).map_err(|_| {
        corrupt(
            instance_id,
            &format!("its {kind} record is not a valid record"),
        )
    })
}

/// An upper bound of the size DynamoDB counts for `item` (attribute names and values).
pub fn item_bytes(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_bytes(value))
        .sum()
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        // About one byte per two significant digits, plus one.
        AttributeValue::N(digits) => digits.len() / 2 + 2,
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_bytes(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(name, v)| 1 + name.len() + value_bytes(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(values) => values.iter().map(String::len).sum(),
        AttributeValue::Ns(values) => values.iter().map(|d| d.len() / 2 + 2).sum(),
        AttributeValue::Bs(values) => values.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.code() == Some("ConditionalCheckFailedException")
}

/// [`StoreError::Unavailable`] for a failed `operation` on `table`: the failure's kind and AWS
/// error code, never the request (items) or the service's free-text message. Throttling and
/// transaction conflicts are conflicts in kind but retried like unavailability.
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
