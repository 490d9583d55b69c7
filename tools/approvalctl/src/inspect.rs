//! `inspect`: one instance as the bridge stores it (head, the company's instance, what Feishu
//! must hold, decisions, cards, open claims) beside what Feishu holds of it, asked with
//! `external_instances/check` (`feishu-api.md` §4.2), and the differences.
//!
//! The table is read with the sync function's own adapter (`DynamoDbStore`), from the standard
//! AWS environment (`AWS_ENDPOINT_URL_DYNAMODB` for a local table). Exit code 0: Feishu holds
//! exactly the instance the records derive; 1: it does not (or something failed).

use aws_config::BehaviorVersion;
use feishu_bridge::models::check::{CheckInstancesRequest, InstanceVersion};
use feishu_bridge::models::instance::{ExternalInstance, InstanceStatus, TaskStatus};
use feishu_bridge::models::message::CardStatus;
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::store::dynamodb::DynamoDbStore;
use feishu_bridge::store::{InstanceRecords, InstanceStore, Lease, Position};
use serde::Serialize;

use crate::cli::InspectArgs;
use crate::error::CliError;
use crate::feishu::{Feishu, deadline};

/// Runs `inspect`: prints the report, then fails with [`CliError::OutOfSync`] when Feishu does
/// not hold what the records derive.
pub async fn run(args: &InspectArgs) -> Result<(), CliError> {
    let config = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&config), &args.table);
    let records = store
        .load(&args.instance_id)
        .await
        .map_err(|source| CliError::Store {
            table: args.table.clone(),
            source,
        })?;
    if records.head.is_none() && records.cards.is_empty() && records.deliveries.is_empty() {
        return Err(CliError::UnknownInstance {
            instance_id: args.instance_id.clone(),
            table: args.table.clone(),
        });
    }
    let derived = records.derive(args.policy.into());
    let feishu_view = match &derived {
        Some(instance) => {
            let feishu = Feishu::connect(&args.feishu).await?;
            let request = CheckInstancesRequest {
                instances: vec![InstanceVersion::of(instance)],
            };
            let answer = feishu
                .client
                .check_instances(&request, deadline())
                .await
                .map_err(|source| CliError::Feishu {
                    action: "checking the instance with Feishu",
                    source,
                })?;
            let diff = answer
                .diff_instances
                .into_iter()
                .find(|diff| diff.instance_id == instance.instance_id);
            Some(FeishuView::of(instance, diff))
        }
        None => None,
    };
    let report = Report::new(&args.table, &records, derived.as_ref(), feishu_view);
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|_| CliError::Encode("report"))?;
        println!("{text}");
    } else {
        print!("{}", report.text());
    }
    if report.in_sync {
        Ok(())
    } else {
        Err(CliError::OutOfSync {
            instance_id: args.instance_id.clone(),
            differences: report.differences.len(),
        })
    }
}

/// What `inspect` found.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The instance.
    pub instance_id: String,
    /// The table read.
    pub table: String,
    /// Whether Feishu holds exactly what the records derive.
    pub in_sync: bool,
    /// The records.
    pub store: StoreView,
    /// What Feishu holds, as far as the check tells; absent when there is nothing to check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feishu: Option<FeishuView>,
    /// Where Feishu differs from the records (or why nothing could be compared).
    pub differences: Vec<Difference>,
}

/// The instance's records.
#[derive(Debug, Serialize)]
pub struct StoreView {
    /// The head.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<HeadView>,
    /// The company's instance as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_instance: Option<InstanceView>,
    /// What Feishu must hold: the company's instance with the accepted decisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub derived: Option<InstanceView>,
    /// Accepted decisions, in order.
    pub decisions: Vec<DecisionView>,
    /// Bot cards.
    pub cards: Vec<CardView>,
    /// Deliveries of decisions (callbacks), with what they finished.
    pub deliveries: Vec<DeliveryView>,
    /// Leases held now (an execution is working on a delivery or a card).
    pub open_claims: Vec<ClaimView>,
}

/// The head.
#[derive(Debug, Serialize)]
pub struct HeadView {
    /// The last position handed out.
    pub seq: Position,
    /// The highest position Feishu accepted a push of.
    pub pushed_seq: Position,
    /// The derived instance status.
    pub status: InstanceStatus,
    /// The `update_time` of the company's latest accepted instance.
    pub company_version: UnixMillis,
    /// The `update_time` of every push of the state at `seq`.
    pub push_version: UnixMillis,
    /// When `seq` last moved (Unix ms).
    pub touched_at: u64,
    /// When the records expire (Unix seconds), once the instance is final.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// An instance's status, version and tasks.
#[derive(Debug, Serialize)]
pub struct InstanceView {
    /// Its status.
    pub status: InstanceStatus,
    /// Its `update_time`.
    pub update_time: UnixMillis,
    /// Its tasks.
    pub tasks: Vec<TaskView>,
}

/// A task's status and version.
#[derive(Debug, Serialize)]
pub struct TaskView {
    /// The task.
    pub task_id: String,
    /// Its status.
    pub status: TaskStatus,
    /// Its approver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Its `update_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<UnixMillis>,
}

/// An accepted decision.
#[derive(Debug, Serialize)]
pub struct DecisionView {
    /// The decided task.
    pub task_id: String,
    /// The task version it was accepted on.
    pub task_version: UnixMillis,
    /// `APPROVE` or `REJECT`.
    pub action: String,
    /// Its position.
    pub position: Position,
    /// Who decided.
    pub user_id: String,
    /// When.
    pub decided_at: UnixMillis,
    /// The delivery that carried it.
    pub delivery_id: String,
}

/// A bot card.
#[derive(Debug, Serialize)]
pub struct CardView {
    /// The card's key in the instance.
    pub card_key: String,
    /// Its task.
    pub task_id: String,
    /// Its message id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Whether a send of it was answered with success.
    pub sent: bool,
    /// The last status Feishu accepted; absent while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CardStatus>,
    /// A status Feishu refused for good, with its code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// A delivery of a decision.
#[derive(Debug, Serialize)]
pub struct DeliveryView {
    /// The callback's request id.
    pub delivery_id: String,
    /// `APPROVE`, `REJECT` or a custom action.
    pub action: String,
    /// The task it resolved to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Whether nothing is left to do for it.
    pub finished: bool,
}

/// A lease held now.
#[derive(Debug, Serialize)]
pub struct ClaimView {
    /// `delivery` or `card`.
    pub kind: &'static str,
    /// The delivery id or card key.
    pub id: String,
    /// The execution holding it.
    pub owner: String,
    /// Until when (Unix ms).
    pub until: u64,
}

/// What Feishu holds, as far as `external_instances/check` tells: it answers only with what
/// differs, so a version Feishu did not name is the one asked about.
#[derive(Debug, Serialize)]
pub struct FeishuView {
    /// Whether Feishu knows the instance.
    pub known: bool,
    /// Its instance `update_time`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<UnixMillis>,
    /// Its task versions; `update_time` absent when Feishu's answer did not tell it (Feishu lists
    /// no tasks for an instance whose own version differs).
    pub tasks: Vec<FeishuTask>,
}

/// A task's version in Feishu.
#[derive(Debug, Serialize)]
pub struct FeishuTask {
    /// The task.
    pub task_id: String,
    /// Feishu's `update_time` of it (0: Feishu does not know it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<UnixMillis>,
}

/// One way Feishu differs from the records.
#[derive(Debug, Serialize)]
pub struct Difference {
    /// `instance`, `task <id>`, or `records`.
    pub what: String,
    /// The bridge's version, when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<UnixMillis>,
    /// Feishu's version, when it told one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feishu: Option<UnixMillis>,
    /// In words.
    pub meaning: String,
}

impl FeishuView {
    /// Feishu's view of `instance` from the check's `diff` entry (none: in sync).
    fn of(instance: &ExternalInstance, diff: Option<InstanceVersion>) -> Self {
        let ours = InstanceVersion::of(instance);
        let Some(diff) = diff else {
            return Self {
                known: true,
                update_time: Some(ours.update_time),
                tasks: ours
                    .tasks
                    .into_iter()
                    .map(|task| FeishuTask {
                        task_id: task.task_id,
                        update_time: Some(task.update_time),
                    })
                    .collect(),
            };
        };
        if diff.is_unknown_to_feishu() {
            return Self {
                known: false,
                update_time: None,
                tasks: Vec::new(),
            };
        }
        let same_instance = diff.update_time == ours.update_time;
        let tasks = ours
            .tasks
            .into_iter()
            .map(|task| {
                let named = diff
                    .tasks
                    .iter()
                    .find(|theirs| theirs.task_id == task.task_id);
                let update_time = match named {
                    Some(theirs) => Some(theirs.update_time),
                    None if same_instance => Some(task.update_time),
                    None => None,
                };
                FeishuTask {
                    task_id: task.task_id,
                    update_time,
                }
            })
            .collect();
        Self {
            known: true,
            update_time: Some(diff.update_time),
            tasks,
        }
    }
}

/// "older" or "newer", of Feishu's version against the bridge's.
fn compared(feishu: UnixMillis, bridge: UnixMillis) -> &'static str {
    if feishu < bridge {
        "Feishu holds an older version; a reconcile run (or the next push) pushes it again"
    } else {
        "Feishu holds a newer version than the records derive (pushed by someone else, or the \
         instance moved since it was read)"
    }
}

impl Report {
    fn new(
        table: &str,
        records: &InstanceRecords,
        derived: Option<&ExternalInstance>,
        feishu: Option<FeishuView>,
    ) -> Self {
        let now = UnixMillis::now().as_millis();
        let mut differences = Vec::new();
        match (derived, &feishu) {
            (None, _) => differences.push(Difference {
                what: "records".to_owned(),
                bridge: None,
                feishu: None,
                meaning: "no company instance is stored (never sent, or expired): nothing to \
                          compare with Feishu"
                    .to_owned(),
            }),
            (Some(instance), Some(view)) if !view.known => differences.push(Difference {
                what: "instance".to_owned(),
                bridge: Some(instance.update_time),
                feishu: None,
                meaning: "Feishu does not know the instance; a reconcile run pushes it again"
                    .to_owned(),
            }),
            (Some(instance), Some(view)) => {
                if let Some(theirs) = view.update_time.filter(|t| *t != instance.update_time) {
                    differences.push(Difference {
                        what: "instance".to_owned(),
                        bridge: Some(instance.update_time),
                        feishu: Some(theirs),
                        meaning: compared(theirs, instance.update_time).to_owned(),
                    });
                }
                for (ours, theirs) in instance.task_list.iter().zip(&view.tasks) {
                    let ours_time = ours.update_time.unwrap_or(UnixMillis::ZERO);
                    match theirs.update_time {
                        Some(time) if time != ours_time => differences.push(Difference {
                            what: format!("task {}", ours.task_id),
                            bridge: Some(ours_time),
                            feishu: Some(time),
                            meaning: if time.is_zero() {
                                "Feishu does not know the task".to_owned()
                            } else {
                                compared(time, ours_time).to_owned()
                            },
                        }),
                        _ => {}
                    }
                }
            }
            (Some(_), None) => {}
        }
        let mut open_claims = Vec::new();
        for delivery in &records.deliveries {
            if let Some(lease) = delivery.lease.as_ref().filter(|lease| lease.is_live(now)) {
                open_claims.push(claim("delivery", &delivery.delivery_id, lease));
            }
        }
        for card in &records.cards {
            if let Some(lease) = card.claim.as_ref().filter(|lease| lease.is_live(now)) {
                open_claims.push(claim("card", &card.card_key, lease));
            }
        }
        let store = StoreView {
            head: records.head.as_ref().map(|head| HeadView {
                seq: head.seq,
                pushed_seq: head.pushed_seq,
                status: head.status.clone(),
                company_version: head.company_version,
                push_version: head.push_version,
                touched_at: head.touched_at,
                expires_at: head.expires_at,
            }),
            company_instance: records
                .base
                .as_ref()
                .map(|base| instance_view(&base.instance)),
            derived: derived.map(instance_view),
            decisions: records
                .decisions
                .iter()
                .map(|decision| DecisionView {
                    task_id: decision.task_id.clone(),
                    task_version: decision.task_version,
                    action: decision.action.to_string(),
                    position: decision.position,
                    user_id: decision.user_id.clone(),
                    decided_at: decision.decided_at,
                    delivery_id: decision.delivery_id.clone(),
                })
                .collect(),
            cards: records
                .cards
                .iter()
                .map(|card| CardView {
                    card_key: card.card_key.clone(),
                    task_id: card.task_id.clone(),
                    message_id: card.message_id.as_ref().map(ToString::to_string),
                    sent: card.sent,
                    status: card.status.clone(),
                    refused: card.refused.as_ref().map(|refused| match refused.code {
                        Some(code) => format!("{} (Feishu code {code})", refused.status),
                        None => refused.status.to_string(),
                    }),
                })
                .collect(),
            deliveries: records
                .deliveries
                .iter()
                .map(|delivery| DeliveryView {
                    delivery_id: delivery.delivery_id.clone(),
                    action: delivery.job.decision.action.to_string(),
                    task_id: delivery.task_id.clone(),
                    finished: delivery.is_finished(),
                })
                .collect(),
            open_claims,
        };
        Self {
            instance_id: records.instance_id.clone(),
            table: table.to_owned(),
            in_sync: differences.is_empty(),
            store,
            feishu,
            differences,
        }
    }

    /// The report for people.
    fn text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "instance {} (table {})", self.instance_id, self.table);
        let store = &self.store;
        match &store.head {
            Some(head) => {
                let _ = writeln!(
                    out,
                    "  head: seq {}, pushed {}{}, status {}, company version {}, push version {}, touched at {}",
                    head.seq,
                    head.pushed_seq,
                    if head.pushed_seq < head.seq {
                        " (latest push not confirmed)"
                    } else {
                        ""
                    },
                    head.status,
                    head.company_version,
                    head.push_version,
                    head.touched_at
                );
                if let Some(at) = head.expires_at {
                    let _ = writeln!(out, "  expires at {at} (Unix s): the instance is final");
                }
            }
            None => out.push_str("  head: none (no company instance accepted)\n"),
        }
        if let Some(base) = &store.company_instance {
            let _ = writeln!(
                out,
                "  company instance: status {}, update_time {}, {} task(s)",
                base.status,
                base.update_time,
                base.tasks.len()
            );
        }
        if let Some(derived) = &store.derived {
            let _ = writeln!(
                out,
                "  Feishu must hold: status {}, update_time {}",
                derived.status, derived.update_time
            );
            for task in &derived.tasks {
                let _ = writeln!(
                    out,
                    "    task {}: {}, update_time {}{}",
                    task.task_id,
                    task.status,
                    task.update_time.map_or("-".to_owned(), |t| t.to_string()),
                    task.user_id
                        .as_ref()
                        .map_or(String::new(), |user| format!(", approver {user}"))
                );
            }
        }
        section(&mut out, "decisions", &store.decisions, |d| {
            format!(
                "{} on task {} (version {}) at position {}, by {}, decided at {}, delivery {}",
                d.action,
                d.task_id,
                d.task_version,
                d.position,
                d.user_id,
                d.decided_at,
                d.delivery_id
            )
        });
        section(&mut out, "cards", &store.cards, |c| {
            format!(
                "{} for task {}: {}{}{}",
                c.message_id.as_deref().unwrap_or("(message id unknown)"),
                c.task_id,
                if c.sent { "sent" } else { "not sent" },
                c.status
                    .as_ref()
                    .map_or(", pending".to_owned(), |s| format!(", status {s}")),
                c.refused
                    .as_ref()
                    .map_or(String::new(), |r| format!(", refused {r}"))
            )
        });
        section(&mut out, "deliveries", &store.deliveries, |d| {
            format!(
                "{}: {} on {}{}",
                d.delivery_id,
                d.action,
                d.task_id.as_deref().unwrap_or("(unresolved task)"),
                if d.finished {
                    ", finished"
                } else {
                    ", unfinished"
                }
            )
        });
        section(&mut out, "open claims", &store.open_claims, |c| {
            format!("{} {} held by {} until {}", c.kind, c.id, c.owner, c.until)
        });
        match (&self.feishu, self.in_sync) {
            (Some(_), true) => out.push_str("Feishu (external_instances/check): in sync\n"),
            (_, _) => {
                out.push_str("Feishu (external_instances/check): OUT OF SYNC\n");
                for difference in &self.differences {
                    let versions = match (difference.bridge, difference.feishu) {
                        (Some(bridge), Some(feishu)) => {
                            format!(" (bridge {bridge}, Feishu {feishu})")
                        }
                        (Some(bridge), None) => format!(" (bridge {bridge})"),
                        _ => String::new(),
                    };
                    let _ = writeln!(
                        out,
                        "  {}{versions}: {}",
                        difference.what, difference.meaning
                    );
                }
            }
        }
        out
    }
}

/// Appends a titled list (or "none").
fn section<T>(out: &mut String, title: &str, items: &[T], line: impl Fn(&T) -> String) {
    use std::fmt::Write as _;
    if items.is_empty() {
        let _ = writeln!(out, "  {title}: none");
        return;
    }
    let _ = writeln!(out, "  {title}:");
    for item in items {
        let _ = writeln!(out, "    {}", line(item));
    }
}

fn claim(kind: &'static str, id: &str, lease: &Lease) -> ClaimView {
    ClaimView {
        kind,
        id: id.to_owned(),
        owner: lease.owner.clone(),
        until: lease.until,
    }
}

fn instance_view(instance: &ExternalInstance) -> InstanceView {
    InstanceView {
        status: instance.status.clone(),
        update_time: instance.update_time,
        tasks: instance
            .task_list
            .iter()
            .map(|task| TaskView {
                task_id: task.task_id.clone(),
                status: task.status.clone(),
                user_id: task.user_id.clone(),
                update_time: task.update_time,
            })
            .collect(),
    }
}
