//! The instance store's two adapters held to each other: the same operation sequences against
//! the in-memory store (the local default and the simulation's store) and the DynamoDB adapter
//! over moto's DynamoDB (the real wire protocol, conditions and transactions included) give the
//! same answers — conflicts included — and leave the same records. Plus what only DynamoDB has:
//! native attributes, the item size limit, reads at the head.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use feishu_bridge::ids::MessageId;
use feishu_bridge::job::DecisionJob;
use feishu_bridge::models::ActionType;
use feishu_bridge::models::instance::{ExternalInstance, InstanceStatus};
use feishu_bridge::models::message::CardStatus;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::store::dynamodb::{DynamoDbStore, MAX_ITEM_BYTES, create_table};
use feishu_bridge::store::{
    AcceptedDecision, Base, CardChange, CardRecord, CardRef, Commit, Delivery, DeliveryProgress,
    Expiry, Head, InMemoryStore, InstanceRecords, InstanceStore, Lease, PushRelease,
    RefusedCardUpdate, StoreError, Verdict,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use testkit::MotoServer;

const START: u64 = 1_700_000_000_000;

/// The two stores, side by side.
struct Pair {
    _moto: MotoServer,
    client: Client,
    memory: InMemoryStore,
    dynamo: DynamoDbStore,
}

async fn pair(table: &str) -> Pair {
    let moto = MotoServer::start().await;
    let client = Client::new(&moto.sdk_config().await);
    create_table(&client, table).await.expect("table");
    Pair {
        _moto: moto,
        dynamo: DynamoDbStore::new(client.clone(), table),
        client,
        memory: InMemoryStore::new(),
    }
}

/// One store operation with everything it needs.
#[derive(Debug, Clone)]
enum Op {
    Commit(Box<Commit>),
    ClaimDelivery(String, String, Lease, u64),
    FinishDelivery(String, String, String, DeliveryProgress),
    PutCard(String, Box<CardRecord>),
    ChangeCard(String, String, CardChange),
    IndexCard(MessageId, CardRef),
    FindCard(MessageId),
    ClaimPush(String, Lease, u64),
    ReleasePush(String, String, u64),
    Expire(String, Expiry, Vec<MessageId>),
    LoadHead(String),
    Recent(u64, u64),
}

/// An answer, comparable across adapters.
#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Done,
    Flag(bool),
    Conflict,
    Card(Option<CardRef>),
    Head(Option<Head>),
    Recent(Vec<(String, u64)>),
    Release(PushRelease),
}

async fn apply(store: &impl InstanceStore, op: &Op) -> Answer {
    let result: Result<Answer, StoreError> = match op {
        Op::Commit(commit) => store.commit(commit).await.map(|()| Answer::Done),
        Op::ClaimDelivery(id, delivery, lease, now) => store
            .claim_delivery(id, delivery, lease, *now)
            .await
            .map(Answer::Flag),
        Op::FinishDelivery(id, delivery, owner, progress) => store
            .finish_delivery(id, delivery, owner, *progress)
            .await
            .map(|()| Answer::Done),
        Op::PutCard(id, card) => store.put_card(id, card).await.map(Answer::Flag),
        Op::ChangeCard(id, key, change) => {
            store.change_card(id, key, change).await.map(Answer::Flag)
        }
        Op::IndexCard(message_id, card) => store
            .index_card(message_id, card)
            .await
            .map(|()| Answer::Done),
        Op::FindCard(message_id) => store.find_card(message_id).await.map(Answer::Card),
        Op::ClaimPush(id, lease, now) => store.claim_push(id, lease, *now).await.map(Answer::Flag),
        Op::ReleasePush(id, owner, seq) => store
            .release_push(id, owner, *seq)
            .await
            .map(Answer::Release),
        Op::Expire(id, expiry, cards) => store
            .expire(id, *expiry, cards)
            .await
            .map(|()| Answer::Done),
        Op::LoadHead(id) => store.load_head(id).await.map(Answer::Head),
        Op::Recent(since, until) => store.recently_changed(*since, *until).await.map(|changes| {
            Answer::Recent(
                changes
                    .into_iter()
                    .map(|change| (change.instance_id, change.touched_at))
                    .collect(),
            )
        }),
    };
    match result {
        Ok(answer) => answer,
        Err(StoreError::Conflict { .. }) => Answer::Conflict,
        Err(error) => panic!("{op:?} failed: {error}"),
    }
}

/// Records in a canonical order, for comparison.
fn canonical(mut records: InstanceRecords) -> InstanceRecords {
    records.decisions.sort_by_key(|d| d.position);
    records
        .deliveries
        .sort_by(|a, b| a.delivery_id.cmp(&b.delivery_id));
    records.cards.sort_by(|a, b| a.card_key.cmp(&b.card_key));
    records
}

impl Pair {
    /// Applies `op` to both stores and checks they answer alike.
    async fn both(&self, op: Op) -> Answer {
        let memory = apply(&self.memory, &op).await;
        let dynamo = apply(&self.dynamo, &op).await;
        assert_eq!(memory, dynamo, "the adapters answered {op:?} differently");
        memory
    }

    /// Checks both stores hold the same records of `instance_id`, and returns them.
    async fn same_records(&self, instance_id: &str) -> InstanceRecords {
        let memory = canonical(self.memory.load(instance_id).await.unwrap());
        let dynamo = canonical(self.dynamo.load(instance_id).await.unwrap());
        assert_eq!(memory, dynamo, "the adapters hold different records");
        memory
    }
}

fn instance(instance_id: &str, update_time: u64) -> ExternalInstance {
    serde_json::from_value(serde_json::json!({
        "approval_code": "C", "status": "PENDING", "instance_id": instance_id,
        "links": {"pc_link": "https://example.com/i", "mobile_link": ""},
        "title": "@i18n@title", "user_id": "initiator",
        "start_time": START.to_string(), "end_time": "0", "update_time": update_time.to_string(),
        "form": [{"name": "@i18n@amount", "value": "¥12,800"}],
        "task_list": [{
            "task_id": "t1", "user_id": "u1", "links": {"pc_link": "https://example.com/t1"},
            "status": "PENDING", "create_time": START.to_string(), "end_time": "0",
            "update_time": START.to_string(),
            "action_configs": [{"action_type": "APPROVE", "is_need_reason": true}]
        }],
        "i18n_resources": [{"locale": "zh-CN", "is_default": true, "texts": [
            {"key": "@i18n@title", "value": "采购申请"}, {"key": "@i18n@amount", "value": "金额"}
        ]}]
    }))
    .unwrap()
}

fn head(seq: u64, touched_at: u64, status: InstanceStatus) -> Head {
    Head {
        seq,
        company_version: UnixMillis::from_millis(START),
        push_version: UnixMillis::from_millis(touched_at + seq),
        pushed_seq: 0,
        push_lease: None,
        status,
        touched_at,
        touched_hour: touched_at / 3_600_000,
        expires_at: None,
    }
}

fn job(delivery: &str, action: &str) -> DecisionJob {
    serde_json::from_value(serde_json::json!({
        "approval_code": "C", "instance_id": "i-1", "task_id": "t1", "action": action,
        "user_id": "u1", "message_id": "7234567890123456789", "reason": "预算内",
        "received_at": START.to_string(), "delivery_id": delivery
    }))
    .unwrap()
}

fn delivery(id: &str, owner: &str, until: u64) -> Delivery {
    Delivery {
        delivery_id: id.to_owned(),
        job: job(id, "APPROVE"),
        task_id: Some("t1".to_owned()),
        verdict: Verdict::Accepted {
            task_version: UnixMillis::ZERO,
            position: Some(2),
            instance_status: InstanceStatus::Pending,
        },
        judged_at: UnixMillis::from_millis(START + 5),
        lease: Some(Lease {
            owner: owner.to_owned(),
            until,
        }),
        card_done: false,
        pushed: false,
        published: false,
        expires_at: None,
    }
}

fn decision(task_id: &str, version: u64, position: u64) -> AcceptedDecision {
    AcceptedDecision {
        task_id: task_id.to_owned(),
        task_version: UnixMillis::from_millis(version),
        action: ActionType::Approve,
        position,
        push_version: UnixMillis::from_millis(START + position),
        decided_at: UnixMillis::from_millis(START + 10),
        user_id: "u1".to_owned(),
        delivery_id: format!("d-{position}"),
        expires_at: None,
    }
}

fn card(key: &str, task_id: &str, message_id: Option<u64>) -> CardRecord {
    CardRecord {
        card_key: key.to_owned(),
        task_id: task_id.to_owned(),
        task_version: UnixMillis::ZERO,
        message_id: message_id.map(MessageId::from),
        sent: message_id.is_some(),
        status: None,
        refused: None,
        claim: None,
        expires_at: None,
    }
}

fn lease(owner: &str, until: u64) -> Lease {
    Lease {
        owner: owner.to_owned(),
        until,
    }
}

#[tokio::test]
async fn scripted_sequences_answer_alike() {
    let pair = pair("scripted").await;
    let id = "i-1".to_owned();
    let base = Base {
        position: 1,
        instance: instance("i-1", START),
        task_versions: BTreeMap::from([("t1".to_owned(), UnixMillis::from_millis(7))]),
        expires_at: None,
    };
    let first = Commit {
        instance_id: id.clone(),
        at_seq: 0,
        head: Some(head(1, START, InstanceStatus::Pending)),
        base: Some(base),
        ..Commit::default()
    };
    assert_eq!(
        pair.both(Op::Commit(Box::new(first.clone()))).await,
        Answer::Done
    );
    assert_eq!(
        pair.both(Op::Commit(Box::new(first))).await,
        Answer::Conflict,
        "head exists"
    );

    let accept = Commit {
        instance_id: id.clone(),
        at_seq: 1,
        head: Some(head(2, START + 1, InstanceStatus::Approved)),
        decision: Some(decision("t1", 7, 2)),
        delivery: Some(delivery("d-1", "exec-a", START + 1_000)),
        ..Commit::default()
    };
    assert_eq!(
        pair.both(Op::Commit(Box::new(accept.clone()))).await,
        Answer::Done
    );
    assert_eq!(
        pair.both(Op::Commit(Box::new(accept))).await,
        Answer::Conflict,
        "the head moved"
    );
    // Head in place, but the decision on that task version exists: nothing is written.
    let again = Commit {
        instance_id: id.clone(),
        at_seq: 2,
        head: Some(head(3, START + 2, InstanceStatus::Approved)),
        decision: Some(decision("t1", 7, 3)),
        delivery: Some(delivery("d-2", "exec-b", START + 1_000)),
        ..Commit::default()
    };
    assert_eq!(
        pair.both(Op::Commit(Box::new(again))).await,
        Answer::Conflict
    );
    let records = pair.same_records(&id).await;
    assert_eq!(records.seq(), 2, "a failed commit writes nothing");
    assert_eq!(records.deliveries.len(), 1);
    // A delivery-only commit needs no order, but a delivery is recorded once.
    let duplicate = Commit {
        instance_id: id.clone(),
        at_seq: 0,
        delivery: Some(delivery("d-1", "exec-c", START)),
        ..Commit::default()
    };
    assert_eq!(
        pair.both(Op::Commit(Box::new(duplicate))).await,
        Answer::Conflict
    );

    // Delivery leases.
    let claim = |owner: &str, now: u64| {
        Op::ClaimDelivery(id.clone(), "d-1".to_owned(), lease(owner, now + 500), now)
    };
    assert_eq!(
        pair.both(claim("exec-b", START + 999)).await,
        Answer::Flag(false),
        "live"
    );
    assert_eq!(
        pair.both(claim("exec-b", START + 1_000)).await,
        Answer::Flag(true),
        "expired"
    );
    let finish = |owner: &str| {
        Op::FinishDelivery(
            id.clone(),
            "d-1".to_owned(),
            owner.to_owned(),
            DeliveryProgress {
                card_done: true,
                pushed: false,
                published: true,
            },
        )
    };
    assert_eq!(
        pair.both(finish("exec-a")).await,
        Answer::Conflict,
        "taken over"
    );
    assert_eq!(pair.both(finish("exec-b")).await, Answer::Done);
    assert_eq!(
        pair.both(finish("exec-b")).await,
        Answer::Conflict,
        "released"
    );
    assert_eq!(
        pair.both(Op::ClaimDelivery(
            id.clone(),
            "d-9".to_owned(),
            lease("x", 1),
            0
        ))
        .await,
        Answer::Flag(false),
        "no such delivery"
    );

    // Cards: claims need the head where the target was derived, and no live claim.
    let key = "uuid-1".to_owned();
    assert_eq!(
        pair.both(Op::PutCard(id.clone(), Box::new(card(&key, "t1", None))))
            .await,
        Answer::Flag(true)
    );
    assert_eq!(
        pair.both(Op::PutCard(id.clone(), Box::new(card(&key, "t1", Some(9)))))
            .await,
        Answer::Flag(false)
    );
    let learn = |message: u64| {
        Op::ChangeCard(
            id.clone(),
            key.clone(),
            CardChange::LearnMessageId(MessageId::from(message)),
        )
    };
    assert_eq!(
        pair.both(learn(7234567890123456789)).await,
        Answer::Flag(true)
    );
    assert_eq!(
        pair.both(learn(1)).await,
        Answer::Flag(false),
        "known already"
    );
    let sent = Op::ChangeCard(
        id.clone(),
        key.clone(),
        CardChange::Sent { message_id: None },
    );
    assert_eq!(pair.both(sent).await, Answer::Flag(true));
    // A send's answer does not replace the id a callback from the card told.
    let sent_with_id = Op::ChangeCard(
        id.clone(),
        key.clone(),
        CardChange::Sent {
            message_id: Some(MessageId::from(1u64)),
        },
    );
    assert_eq!(pair.both(sent_with_id).await, Answer::Flag(true));
    let records = pair.same_records(&id).await;
    assert_eq!(
        records.cards[0].message_id,
        Some(MessageId::from(7234567890123456789u64))
    );
    let claim_card = |at_seq: u64, owner: &str, now: u64| {
        Op::ChangeCard(
            id.clone(),
            key.clone(),
            CardChange::Claim {
                at_seq,
                target: CardStatus::Cancelled,
                lease: lease(owner, now + 100),
                now_ms: now,
            },
        )
    };
    assert_eq!(
        pair.both(claim_card(1, "exec-a", START)).await,
        Answer::Flag(false),
        "stale head"
    );
    assert_eq!(
        pair.both(claim_card(2, "exec-a", START)).await,
        Answer::Flag(true)
    );
    assert_eq!(
        pair.both(claim_card(2, "exec-b", START + 50)).await,
        Answer::Flag(false),
        "live"
    );
    let settle = |owner: &str, status: Option<CardStatus>, refused: Option<RefusedCardUpdate>| {
        Op::ChangeCard(
            id.clone(),
            key.clone(),
            CardChange::Settle {
                owner: owner.to_owned(),
                status,
                refused,
            },
        )
    };
    assert_eq!(
        pair.both(settle("exec-b", Some(CardStatus::Approved), None))
            .await,
        Answer::Flag(false)
    );
    assert_eq!(
        pair.both(settle("exec-a", Some(CardStatus::Approved), None))
            .await,
        Answer::Flag(true)
    );
    assert_eq!(
        pair.both(claim_card(2, "exec-b", START + 50)).await,
        Answer::Flag(true)
    );
    let refused = RefusedCardUpdate {
        status: CardStatus::Cancelled,
        code: Some(60001),
    };
    assert_eq!(
        pair.both(settle("exec-b", None, Some(refused))).await,
        Answer::Flag(true)
    );
    // A card already showing the target is not claimed again (one update per status).
    let approved_again = Op::ChangeCard(
        id.clone(),
        key.clone(),
        CardChange::Claim {
            at_seq: 2,
            target: CardStatus::Approved,
            lease: lease("exec-c", START + 500),
            now_ms: START + 400,
        },
    );
    assert_eq!(pair.both(approved_again).await, Answer::Flag(false));
    // An update whose outcome is unknown releases the claim and forgets the card's status, so
    // the card is set again.
    let claim_at = |owner: &str, target: CardStatus, now: u64| {
        Op::ChangeCard(
            id.clone(),
            key.clone(),
            CardChange::Claim {
                at_seq: 2,
                target,
                lease: lease(owner, now + 100),
                now_ms: now,
            },
        )
    };
    assert_eq!(
        pair.both(claim_at("exec-c", CardStatus::Cancelled, START + 600))
            .await,
        Answer::Flag(true)
    );
    let unsettle = |owner: &str| {
        Op::ChangeCard(
            id.clone(),
            key.clone(),
            CardChange::Unsettle {
                owner: owner.to_owned(),
            },
        )
    };
    assert_eq!(pair.both(unsettle("exec-b")).await, Answer::Flag(false));
    assert_eq!(pair.both(unsettle("exec-c")).await, Answer::Flag(true));
    pair.same_records(&id).await;
    let records = pair.memory.load(&id).await.unwrap();
    let card = records
        .cards
        .iter()
        .find(|card| card.card_key == key)
        .unwrap();
    assert!(card.status.is_none() && card.claim.is_none(), "{card:?}");
    assert_eq!(
        pair.both(claim_at("exec-a", CardStatus::Approved, START + 650))
            .await,
        Answer::Flag(true),
        "a card of unknown status is set again, even to the status it last had"
    );
    assert_eq!(
        pair.both(settle("exec-a", Some(CardStatus::Approved), None))
            .await,
        Answer::Flag(true)
    );
    // So does a claim that ran out unsettled (its holder died, perhaps after Feishu applied it).
    assert_eq!(
        pair.both(claim_at("exec-b", CardStatus::Cancelled, START + 700))
            .await,
        Answer::Flag(true)
    );
    assert_eq!(
        pair.both(claim_at("exec-c", CardStatus::Approved, START + 750))
            .await,
        Answer::Flag(false),
        "the claim is live"
    );
    assert_eq!(
        pair.both(claim_at("exec-c", CardStatus::Approved, START + 900))
            .await,
        Answer::Flag(true),
        "the claim ran out: the card may show Cancelled, not the Approved recorded"
    );
    assert_eq!(
        pair.both(settle("exec-c", Some(CardStatus::Approved), None))
            .await,
        Answer::Flag(true)
    );
    assert_eq!(
        pair.both(Op::ChangeCard(
            id.clone(),
            "no-such-card".to_owned(),
            CardChange::Sent { message_id: None }
        ))
        .await,
        Answer::Flag(false)
    );

    // The card index, the pushed position, expiry, the recent-changes index.
    let message = MessageId::from(7234567890123456789u64);
    let card_ref = CardRef {
        instance_id: id.clone(),
        task_id: "t1".to_owned(),
    };
    assert_eq!(
        pair.both(Op::FindCard(message.clone())).await,
        Answer::Card(None)
    );
    assert_eq!(
        pair.both(Op::IndexCard(message.clone(), card_ref.clone()))
            .await,
        Answer::Done
    );
    assert_eq!(
        pair.both(Op::FindCard(message.clone())).await,
        Answer::Card(Some(card_ref))
    );
    // The push lease: one pusher at a time; let go only at the pushed position.
    let claim_push =
        |owner: &str, now: u64| Op::ClaimPush(id.clone(), lease(owner, now + 100), now);
    assert_eq!(
        pair.both(claim_push("exec-a", START)).await,
        Answer::Flag(true)
    );
    assert_eq!(
        pair.both(claim_push("exec-a", START + 10)).await,
        Answer::Flag(true),
        "its own"
    );
    assert_eq!(
        pair.both(claim_push("exec-b", START + 50)).await,
        Answer::Flag(false),
        "live"
    );
    let release = |owner: &str, seq: u64| Op::ReleasePush(id.clone(), owner.to_owned(), seq);
    assert_eq!(
        pair.both(release("exec-a", 1)).await,
        Answer::Release(PushRelease::Moved)
    );
    assert_eq!(
        pair.both(release("exec-b", 2)).await,
        Answer::Release(PushRelease::Lost)
    );
    assert_eq!(
        pair.both(release("exec-a", 2)).await,
        Answer::Release(PushRelease::Released)
    );
    assert_eq!(
        pair.both(claim_push("exec-b", START + 50)).await,
        Answer::Flag(true),
        "free"
    );
    assert_eq!(
        pair.both(Op::ClaimPush("unknown".to_owned(), lease("x", 1), 0))
            .await,
        Answer::Flag(false),
        "no head"
    );
    let Answer::Head(Some(stored)) = pair.both(Op::LoadHead(id.clone())).await else {
        panic!("no head");
    };
    assert_eq!(stored.pushed_seq, 2);
    assert_eq!(stored.push_lease.as_ref().unwrap().owner, "exec-b");
    let expiry = Expiry {
        records_at: Some(1_900_000_000),
        tombstone_at: Some(1_930_000_000),
    };
    pair.both(Op::Expire(id.clone(), expiry, vec![message.clone()]))
        .await;
    let records = pair.same_records(&id).await;
    assert_eq!(
        records.head.as_ref().unwrap().expires_at,
        Some(1_930_000_000)
    );
    assert_eq!(
        records.base.as_ref().unwrap().expires_at,
        Some(1_900_000_000)
    );
    assert!(
        records
            .cards
            .iter()
            .all(|card| card.expires_at == Some(1_900_000_000))
    );
    assert_eq!(records.cards[0].status, Some(CardStatus::Approved));
    assert_eq!(records.cards[0].refused.as_ref().unwrap().code, Some(60001));
    pair.both(Op::Expire(id.clone(), Expiry::default(), vec![message]))
        .await;
    let records = pair.same_records(&id).await;
    assert!(
        records
            .deliveries
            .iter()
            .all(|delivery| delivery.expires_at.is_none())
    );
    // A head advanced again keeps its pushed position and its push lease.
    let next = Commit {
        instance_id: id.clone(),
        at_seq: 2,
        head: Some(head(3, START + 7_200_000, InstanceStatus::Pending)),
        ..Commit::default()
    };
    assert_eq!(pair.both(Op::Commit(Box::new(next))).await, Answer::Done);
    let records = pair.same_records(&id).await;
    assert_eq!(records.head.as_ref().unwrap().pushed_seq, 2);
    assert_eq!(
        records
            .head
            .as_ref()
            .unwrap()
            .push_lease
            .as_ref()
            .unwrap()
            .owner,
        "exec-b"
    );
    assert_eq!(
        pair.both(Op::Recent(START, START + 7_200_001)).await,
        Answer::Recent(vec![(id.clone(), START + 7_200_000)])
    );
    assert_eq!(
        pair.both(Op::Recent(START, START + 7_200_000)).await,
        Answer::Recent(vec![])
    );
}

/// Random operation sequences over a small domain (three instances, few tasks, leases around
/// one clock), so that conditions collide often.
#[tokio::test]
async fn random_sequences_answer_alike() {
    let pair = pair("random").await;
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut conflicts = 0;
        let mut now = START;
        for _ in 0..150 {
            now += rng.random_range(0..300);
            let id = format!("i-{seed}-{}", rng.random_range(0..3));
            let seq = match pair.memory.load_head(&id).await.unwrap() {
                Some(head) => head.seq,
                None => 0,
            };
            // Plan against the real head most of the time, a stale one sometimes.
            let at_seq = if rng.random_bool(0.8) {
                seq
            } else {
                seq.saturating_sub(1)
            };
            let task = format!("t{}", rng.random_range(0..3));
            let owner = format!("exec-{}", rng.random_range(0..3));
            let delivery_id = format!("d-{}", rng.random_range(0..6));
            let key = format!("card-{}", rng.random_range(0..3));
            let op = match rng.random_range(0..11) {
                0 => Op::Commit(Box::new(Commit {
                    instance_id: id.clone(),
                    at_seq,
                    head: Some(head(at_seq + 1, now, InstanceStatus::Pending)),
                    base: Some(Base {
                        position: at_seq + 1,
                        instance: instance(&id, now),
                        task_versions: BTreeMap::new(),
                        expires_at: None,
                    }),
                    ..Commit::default()
                })),
                1 => Op::Commit(Box::new(Commit {
                    instance_id: id.clone(),
                    at_seq,
                    head: Some(head(at_seq + 1, now, InstanceStatus::Pending)),
                    decision: Some(decision(&task, 0, at_seq + 1)),
                    delivery: Some(delivery(&delivery_id, &owner, now + 400)),
                    ..Commit::default()
                })),
                2 => Op::Commit(Box::new(Commit {
                    instance_id: id.clone(),
                    at_seq,
                    delivery: Some(delivery(&delivery_id, &owner, now + 400)),
                    ..Commit::default()
                })),
                3 => Op::ClaimDelivery(id.clone(), delivery_id, lease(&owner, now + 400), now),
                4 => Op::FinishDelivery(
                    id.clone(),
                    delivery_id,
                    owner,
                    DeliveryProgress {
                        card_done: rng.random_bool(0.5),
                        pushed: rng.random_bool(0.5),
                        published: rng.random_bool(0.5),
                    },
                ),
                5 => Op::PutCard(
                    id.clone(),
                    Box::new(card(&key, &task, Some(rng.random_range(1..4)))),
                ),
                6 => Op::ChangeCard(
                    id.clone(),
                    key,
                    CardChange::Claim {
                        at_seq,
                        target: if rng.random_bool(0.5) {
                            CardStatus::Approved
                        } else {
                            CardStatus::Cancelled
                        },
                        lease: lease(&owner, now + 300),
                        now_ms: now,
                    },
                ),
                7 => Op::ChangeCard(
                    id.clone(),
                    key,
                    CardChange::Settle {
                        owner,
                        status: Some(CardStatus::Approved),
                        refused: None,
                    },
                ),
                8 => Op::ChangeCard(id.clone(), key, CardChange::Unsettle { owner }),
                9 => Op::ClaimPush(id.clone(), lease(&owner, now + 300), now),
                _ => Op::ReleasePush(id.clone(), owner, at_seq),
            };
            if pair.both(op).await == Answer::Conflict {
                conflicts += 1;
            }
        }
        for instance in 0..3 {
            pair.same_records(&format!("i-{seed}-{instance}")).await;
        }
        assert!(
            conflicts > 5,
            "seed {seed}: only {conflicts} conflicts; the sequence is too tame"
        );
    }
}

#[tokio::test]
async fn records_are_native_attributes_and_read_at_the_head() {
    let pair = pair("native").await;
    let commit = Commit {
        instance_id: "i-1".to_owned(),
        at_seq: 0,
        head: Some(head(1, START, InstanceStatus::Pending)),
        base: Some(Base {
            position: 1,
            instance: instance("i-1", START),
            task_versions: BTreeMap::new(),
            expires_at: None,
        }),
        ..Commit::default()
    };
    pair.dynamo.commit(&commit).await.unwrap();
    let base = pair
        .client
        .get_item()
        .table_name("native")
        .key("pk", AttributeValue::S("inst#i-1".to_owned()))
        .key("sk", AttributeValue::S("base".to_owned()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let stored = base["instance"]
        .as_m()
        .expect("the instance is a native map");
    assert_eq!(stored["title"].as_s().unwrap(), "@i18n@title");
    assert!(stored["task_list"].as_l().is_ok());
    let loaded = pair.dynamo.load("i-1").await.unwrap();
    assert_eq!(
        loaded.base.unwrap().instance,
        instance("i-1", START),
        "a lossless round trip"
    );

    // A decision item past the head (written after the head was read) is left out.
    let mut item: std::collections::HashMap<String, AttributeValue> =
        serde_dynamo::to_item(decision("t1", 0, 9)).unwrap();
    item.insert("pk".to_owned(), AttributeValue::S("inst#i-1".to_owned()));
    item.insert("sk".to_owned(), AttributeValue::S("dec#t1#0".to_owned()));
    pair.client
        .put_item()
        .table_name("native")
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    assert!(pair.dynamo.load("i-1").await.unwrap().decisions.is_empty());
}

#[tokio::test]
async fn an_instance_over_the_item_limit_is_refused_before_anything_is_written() {
    let pair = pair("large").await;
    let mut huge = instance("i-1", START);
    huge.form = (0..2_000)
        .map(|n| {
            serde_json::from_value(serde_json::json!({
                "name": format!("@i18n@field_{n}"), "value": "x".repeat(200)
            }))
            .unwrap()
        })
        .collect();
    let commit = Commit {
        instance_id: "i-1".to_owned(),
        at_seq: 0,
        head: Some(head(1, START, InstanceStatus::Pending)),
        base: Some(Base {
            position: 1,
            instance: huge,
            task_versions: BTreeMap::new(),
            expires_at: None,
        }),
        ..Commit::default()
    };
    match pair.dynamo.commit(&commit).await {
        Err(StoreError::TooLarge { bytes, limit, .. }) => {
            assert!(bytes > limit);
            assert_eq!(limit, MAX_ITEM_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(pair.dynamo.load_head("i-1").await.unwrap(), None);
}
