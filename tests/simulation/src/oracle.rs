//! The invariants, checked once a schedule has quiesced.
//!
//! The oracle replays every commit the store applied, in order, through its own reference model
//! ([`crate::model`]): each commit must extend the instance's order where it was planned, each
//! verdict must be the one the rules give at that position, each base must be a newer company
//! version. What Feishu, the bus and the cards hold at the end is then compared with the model's
//! final state — not with the bridge's own derivation — and each job's outcome with the log.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use approval_sync::SyncSummary;
use approval_sync::events::BridgeEvent;
use approval_sync::summary::{DecisionOutcome, InstanceOutcome};
use feishu_bridge::models::time::UnixMillis;
use feishu_bridge::store::{InstanceRecords, Verdict};
use feishu_sim::SimHandle;

use crate::exec::ExecRef;
use crate::lambda::{Attempt, End, Job, JobKind, card_context};
use crate::model::{self, Base, Decision, Judgement, State};
use crate::workload::Workload;
use crate::world::{Observations, World};

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's number (1–7, as the issue lists them).
    pub invariant: u8,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant {}: {}", self.invariant, self.message)
    }
}

/// The names of the invariants.
pub const INVARIANTS: [&str; 7] = [
    "every delivered job ends applied, duplicate, refused, stale, or parked with its reason",
    "an accepted decision is final until the company re-opens or decides the task",
    "Feishu's instance is the company's latest base overlaid with every accepted decision",
    "Feishu holds the state at the highest position; stale means not newer",
    "every accepted decision is published, always with the same id; nothing else is",
    "every card shows what the lifecycle gives its task and instance",
    "no panic, and every schedule quiesces within its virtual-time budget",
];

/// Everything the oracle looks at.
pub struct Evidence<'a> {
    /// The workload.
    pub workload: &'a Workload,
    /// The jobs and how each delivery ended.
    pub jobs: &'a [Job],
    /// What the store, Feishu and the bus saw happen.
    pub seen: &'a Observations,
    /// Feishu.
    pub sim: &'a SimHandle,
    /// The store's final records, per records id.
    pub records: &'a BTreeMap<String, InstanceRecords>,
    /// Whether the bridge derives instance statuses.
    pub derive: bool,
    /// Whether the schedule quiesced within its budget.
    pub quiesced: bool,
}

/// What the log says of one delivery id.
#[derive(Debug, Clone)]
struct Judged {
    verdict: Verdict,
    by: ExecRef,
    /// The id of the decision it is, or repeats (accepted, forwarded, duplicate).
    decision_id: Option<String>,
}

struct Oracle<'a> {
    evidence: &'a Evidence<'a>,
    world: &'a World,
    violations: Vec<Violation>,
    /// Per records id, the model's state after each position.
    histories: BTreeMap<String, Vec<State>>,
    /// Accepted custom actions per records id: (task, version, action).
    customs: BTreeMap<String, Vec<(String, u64, String)>>,
    /// Forwarded decisions per records id: (task label, action).
    forwarded: BTreeMap<String, Vec<(String, String)>>,
    /// Every delivery the log judged.
    judged: BTreeMap<String, Judged>,
    /// When each base version was committed (index into the commit log).
    base_commits: BTreeMap<(String, u64), usize>,
}

/// Checks every invariant; counts what the schedule covered into `world`.
pub fn check(evidence: &Evidence<'_>, world: &World) -> Vec<Violation> {
    let mut oracle = Oracle {
        evidence,
        world,
        violations: Vec::new(),
        histories: BTreeMap::new(),
        customs: BTreeMap::new(),
        forwarded: BTreeMap::new(),
        judged: BTreeMap::new(),
        base_commits: BTreeMap::new(),
    };
    oracle.no_panics_and_quiescence();
    oracle.replay_commits();
    oracle.job_outcomes();
    oracle.feishu_instances();
    oracle.events();
    oracle.cards();
    oracle.violations
}

impl Oracle<'_> {
    fn violation(&mut self, invariant: u8, message: String) {
        self.violations.push(Violation { invariant, message });
    }

    fn job(&self, by: ExecRef) -> &Job {
        &self.evidence.jobs[by.job]
    }

    /// Invariant 7.
    fn no_panics_and_quiescence(&mut self) {
        let mut found = Vec::new();
        for (index, job) in self.evidence.jobs.iter().enumerate() {
            for (delivery, record) in job.deliveries.iter().enumerate() {
                for attempt in &record.attempts {
                    if let Attempt::Panicked(message) = attempt {
                        found.push(Violation {
                            invariant: 7,
                            message: format!("job #{index}.{} panicked: {message}", delivery + 1),
                        });
                    }
                }
                if record.end.is_none() {
                    found.push(Violation {
                        invariant: if self.evidence.quiesced { 1 } else { 7 },
                        message: format!(
                            "job #{index}.{} never ended (attempts: {:?})",
                            delivery + 1,
                            record.attempts
                        ),
                    });
                }
            }
        }
        if !self.evidence.quiesced {
            found.push(Violation {
                invariant: 7,
                message: "the schedule did not quiesce within its virtual-time budget".to_owned(),
            });
        }
        self.violations.extend(found);
    }

    /// Replays the commit log through the model: invariants 2 and 4 at every step.
    fn replay_commits(&mut self) {
        let derive = self.evidence.derive;
        for (index, committed) in self.evidence.seen.commits.iter().enumerate() {
            let commit = &committed.commit;
            let by = committed.by;
            let records_id = commit.instance_id.clone();
            let history = self
                .histories
                .entry(records_id.clone())
                .or_insert_with(|| vec![State::default()]);
            let current = history.last().cloned().unwrap_or_default();
            let mut messages: Vec<(u8, String)> = Vec::new();
            if let Some(head) = &commit.head {
                if commit.at_seq != current.seq {
                    messages.push((
                        2,
                        format!(
                            "{records_id}: a commit planned at seq {} was applied on seq {} (its condition did not hold)",
                            commit.at_seq, current.seq
                        ),
                    ));
                }
                let mut next = current.clone();
                next.seq = current.seq + 1;
                if let Some(base) = &commit.base {
                    match &self.evidence.jobs[by.job].kind {
                        JobKind::Instance { instance, version } => {
                            let spec =
                                &self.evidence.workload.instances[*instance].versions[*version];
                            let version_time = spec.update_time;
                            if let Some(previous) = &current.base
                                && version_time <= previous.version
                            {
                                messages.push((
                                    4,
                                    format!(
                                        "{records_id}: company version {version_time} was accepted after {}",
                                        previous.version
                                    ),
                                ));
                            }
                            let mut task_versions = current
                                .base
                                .as_ref()
                                .map(|base| base.task_versions.clone())
                                .unwrap_or_default();
                            for task in &spec.reopen {
                                task_versions.insert(task.clone(), version_time);
                            }
                            let written: BTreeMap<String, u64> = base
                                .task_versions
                                .iter()
                                .map(|(task, version)| (task.clone(), version.as_millis()))
                                .collect();
                            if written != task_versions {
                                messages.push((
                                    2,
                                    format!(
                                        "{records_id}: task versions {written:?} written, the re-opens give {task_versions:?}"
                                    ),
                                ));
                            }
                            self.base_commits
                                .entry((records_id.clone(), version_time))
                                .or_insert(index);
                            next.base = Some(Base {
                                version: version_time,
                                instance: self.evidence.jobs[by.job].payload["instance"].clone(),
                                task_versions,
                            });
                        }
                        other => messages.push((
                            1,
                            format!("{records_id}: a base written by a {other:?} job"),
                        )),
                    }
                }
                if let Some(decision) = &commit.decision {
                    match &self.evidence.jobs[by.job].kind {
                        JobKind::Decision {
                            tap,
                            user_id,
                            delivery_id,
                            version: tapped,
                            ..
                        } => {
                            let judgement = current
                                .judge(tap.action, &tap.task, user_id, *tapped, false, derive);
                            if judgement != Judgement::Accept {
                                messages.push((
                                    2,
                                    format!(
                                        "{records_id}: delivery {delivery_id} ({} {} by {user_id}) was accepted at seq {}, but the rules say {judgement:?} ({})",
                                        tap.action,
                                        tap.task,
                                        current.seq,
                                        describe_state(&current, derive)
                                    ),
                                ));
                            }
                            let version = current.task_version(&tap.task);
                            if decision.task_version.as_millis() != version
                                || decision.task_id != tap.task
                                || decision.action.as_str() != tap.action
                            {
                                messages.push((
                                    2,
                                    format!(
                                        "{records_id}: delivery {delivery_id} wrote {} v{} {}, the tap was {} v{version} {}",
                                        decision.task_id, decision.task_version, decision.action, tap.task, tap.action
                                    ),
                                ));
                            }
                            next.decisions.push(Decision {
                                task: tap.task.clone(),
                                version,
                                action: tap.action.to_owned(),
                            });
                        }
                        other => messages.push((
                            1,
                            format!("{records_id}: a decision written by a {other:?} job"),
                        )),
                    }
                }
                if head.seq != next.seq {
                    messages.push((
                        2,
                        format!(
                            "{records_id}: head {} written after seq {}",
                            head.seq, current.seq
                        ),
                    ));
                }
                let status = next.instance_status(derive).unwrap_or_default();
                if head.status.as_str() != status {
                    messages.push((
                        6,
                        format!(
                            "{records_id}: head status {} written at seq {}, the rules give {status}",
                            head.status, next.seq
                        ),
                    ));
                }
                history.push(next);
            }
            for (invariant, message) in messages {
                self.violation(invariant, message);
            }
            if let Some(delivery) = &commit.delivery {
                self.judge_delivery(by, &records_id, commit.at_seq, delivery);
            }
        }
    }

    /// Checks a delivery's verdict against the model's judgement where it was made.
    fn judge_delivery(
        &mut self,
        by: ExecRef,
        records_id: &str,
        at_seq: u64,
        delivery: &feishu_bridge::store::Delivery,
    ) {
        let derive = self.evidence.derive;
        let job = self.job(by).clone();
        let JobKind::Decision {
            tap,
            user_id,
            delivery_id,
            version: tapped,
            ..
        } = &job.kind
        else {
            self.violation(
                1,
                format!("{records_id}: a delivery written by a non-decision job"),
            );
            return;
        };
        if delivery.delivery_id != *delivery_id {
            self.violation(
                1,
                format!(
                    "{records_id}: delivery {} written for {delivery_id}",
                    delivery.delivery_id
                ),
            );
        }
        let history = self.histories.get(records_id).cloned().unwrap_or_default();
        let state = match &delivery.verdict {
            // An accepted approve or reject was judged at the head it advanced.
            Verdict::Accepted {
                position: Some(_), ..
            } => history.iter().rev().nth(1).cloned().unwrap_or_default(),
            _ => match history.get(at_seq as usize) {
                Some(state) => state.clone(),
                None => {
                    self.violation(
                        2,
                        format!("{records_id}: delivery {delivery_id} judged at seq {at_seq}, past the head"),
                    );
                    return;
                }
            },
        };
        let version = state.task_version(&tap.task);
        let custom = model::decided_status(tap.action).is_none();
        let custom_repeated = self.customs.get(records_id).is_some_and(|customs| {
            customs
                .iter()
                .any(|(task, v, action)| *task == tap.task && *v == version && action == tap.action)
        });
        let label = delivery.task_id.clone().unwrap_or_else(|| tap.task.clone());
        let forward_repeated = self.forwarded.get(records_id).is_some_and(|forwarded| {
            forwarded
                .iter()
                .any(|(task, action)| *task == label && action == tap.action)
        });
        let mut expected = state.judge(
            tap.action,
            &tap.task,
            user_id,
            *tapped,
            custom_repeated,
            derive,
        );
        if expected == Judgement::Forward && forward_repeated {
            expected = Judgement::Duplicate;
        }
        let accepted_id = |action: &str| format!("{records_id}/{}/{version}/{action}", tap.task);
        let (matches, invariant, decision_id) = match (&expected, &delivery.verdict) {
            (Judgement::Accept, Verdict::Accepted { position, .. }) => (
                position.is_some() != custom,
                2,
                Some(accepted_id(tap.action)),
            ),
            (Judgement::Forward, Verdict::Forwarded { .. }) => (
                true,
                1,
                Some(format!("{records_id}/{label}/0/{}", tap.action)),
            ),
            (Judgement::Duplicate, Verdict::Duplicate { decision_id }) => {
                let expected_id = if state.base.is_none() {
                    format!("{records_id}/{label}/0/{}", tap.action)
                } else {
                    accepted_id(tap.action)
                };
                (*decision_id == expected_id, 5, Some(expected_id))
            }
            (Judgement::Refuse(reason), Verdict::Refused { reason: given, .. }) => {
                (reason == given, 1, None)
            }
            (_, Verdict::Accepted { .. }) => (false, 2, None),
            _ => (false, 1, None),
        };
        self.world.count(match &delivery.verdict {
            Verdict::Accepted { position: None, .. } => {
                "verdict: custom action accepted".to_owned()
            }
            Verdict::Accepted { .. } => "verdict: accepted".to_owned(),
            Verdict::Duplicate { .. } => "verdict: duplicate".to_owned(),
            Verdict::Refused { reason, .. } => format!("verdict: refused ({reason})"),
            Verdict::Forwarded { .. } => "verdict: forwarded (instance never synced)".to_owned(),
        });
        if !matches {
            self.violation(
                invariant,
                format!(
                    "{records_id}: delivery {delivery_id} ({} {} by {user_id}, planned at seq {at_seq}) got {:?}; the rules say {expected:?} ({})",
                    tap.action,
                    tap.task,
                    delivery.verdict,
                    describe_state(&state, derive)
                ),
            );
        }
        if matches!(delivery.verdict, Verdict::Accepted { position: None, .. }) {
            self.customs
                .entry(records_id.to_owned())
                .or_default()
                .push((tap.task.clone(), version, tap.action.to_owned()));
        }
        if matches!(delivery.verdict, Verdict::Forwarded { .. }) {
            self.forwarded
                .entry(records_id.to_owned())
                .or_default()
                .push((label, tap.action.to_owned()));
        }
        self.judged.insert(
            delivery_id.clone(),
            Judged {
                verdict: delivery.verdict.clone(),
                by,
                decision_id,
            },
        );
    }

    /// Invariants 1 and 4: every job's outcome agrees with the log.
    fn job_outcomes(&mut self) {
        let jobs = self.evidence.jobs;
        for (number, job) in jobs.iter().enumerate() {
            for (delivery_index, delivery) in job.deliveries.iter().enumerate() {
                let Some(End::Done(summary)) = &delivery.end else {
                    continue;
                };
                let by = ExecRef {
                    job: number,
                    delivery: delivery_index as u32 + 1,
                    attempt: delivery.attempts.len() as u32,
                };
                match (&job.kind, summary.as_ref()) {
                    (JobKind::Decision { delivery_id, .. }, SyncSummary::Decision(summary)) => {
                        let Some(judged) = self.judged.get(delivery_id).cloned() else {
                            self.violation(
                                1,
                                format!("job #{number}: decision {delivery_id} ended {:?} but no verdict was ever recorded", summary.outcome),
                            );
                            continue;
                        };
                        let own = judged.by == by;
                        let consistent = match summary.outcome {
                            DecisionOutcome::Applied => {
                                own && matches!(judged.verdict, Verdict::Accepted { .. } | Verdict::Forwarded { .. })
                            }
                            DecisionOutcome::Refused => {
                                own && matches!(judged.verdict, Verdict::Refused { .. })
                            }
                            DecisionOutcome::Duplicate => {
                                !own || matches!(judged.verdict, Verdict::Duplicate { .. })
                            }
                        };
                        if !consistent || summary.delivery_id != *delivery_id {
                            self.violation(
                                1,
                                format!(
                                    "job #{number}: decision {delivery_id} reported {:?}, the log has {:?} by {:?}",
                                    summary.outcome, judged.verdict, judged.by
                                ),
                            );
                        }
                        if judged.decision_id.is_some() && summary.decision_id != judged.decision_id {
                            self.violation(
                                5,
                                format!(
                                    "job #{number}: decision {delivery_id} reported id {:?}, expected {:?}",
                                    summary.decision_id, judged.decision_id
                                ),
                            );
                        }
                    }
                    (JobKind::Instance { instance, version }, SyncSummary::Instance(summary)) => {
                        let plan = &self.evidence.workload.instances[*instance];
                        let own = plan.versions[*version].update_time;
                        match summary.outcome {
                            InstanceOutcome::Synced => {
                                self.world.count("instance job: synced");
                                let wrote = self.evidence.seen.commits.iter().any(|committed| {
                                    committed.by == by
                                        && committed.commit.base.as_ref().is_some_and(|base| {
                                            base.instance.update_time.as_millis() == own
                                        })
                                });
                                if !wrote {
                                    self.violation(
                                        1,
                                        format!("job #{number}: {} v{own} reported synced without writing its base", plan.id),
                                    );
                                }
                            }
                            InstanceOutcome::Stale => {
                                self.world.count("instance job: stale");
                                let company = summary.company_version.map_or(0, UnixMillis::as_millis);
                                let known = self
                                    .base_commits
                                    .contains_key(&(plan.id.clone(), company));
                                if company < own || !known {
                                    self.violation(
                                        4,
                                        format!(
                                            "job #{number}: {} v{own} dropped as stale against company version {company} (accepted: {known})",
                                            plan.id
                                        ),
                                    );
                                }
                            }
                        }
                    }
                    (JobKind::Message { .. }, SyncSummary::Message(_)) => {}
                    (kind, summary) => self.violation(
                        1,
                        format!("job #{number} ({kind:?}) ended with a summary of another kind: {summary:?}"),
                    ),
                }
            }
        }
    }

    /// Whether an instance is exempt from the final-state checks: the last job on it to end
    /// (by when it ended) is in the failure queue.
    fn last_job_parked(&self, instance: usize) -> bool {
        let mut last: Option<(std::time::Duration, bool)> = None;
        for job in self.evidence.jobs {
            let on_instance = match &job.kind {
                JobKind::Instance {
                    instance: index, ..
                } => *index == instance,
                JobKind::Decision { tap, .. } => tap.instance == Some(instance),
                JobKind::Message { .. } => false,
            };
            if !on_instance {
                continue;
            }
            for delivery in &job.deliveries {
                if let Some(ended) = delivery.ended_at
                    && last.is_none_or(|(at, _)| ended >= at)
                {
                    last = Some((ended, matches!(delivery.end, Some(End::Parked(_)))));
                }
            }
        }
        last.is_some_and(|(_, parked)| parked)
    }

    /// The model's final state of instance `instance_id`.
    fn final_state(&self, instance_id: &str) -> State {
        self.histories
            .get(instance_id)
            .and_then(|history| history.last().cloned())
            .unwrap_or_default()
    }

    /// Invariants 3 and 4: Feishu's instance is the model's final state, at its highest push.
    fn feishu_instances(&mut self) {
        let derive = self.evidence.derive;
        for (index, plan) in self.evidence.workload.instances.iter().enumerate() {
            if self.last_job_parked(index) {
                self.world.count("instance exempt: its last job is parked");
                continue;
            }
            let state = self.final_state(&plan.id);
            let feishu = self.evidence.sim.instance(&plan.id);
            let Some(base) = &state.base else {
                if feishu.is_some() {
                    self.violation(
                        3,
                        format!("{}: Feishu has it, but no base was ever accepted", plan.id),
                    );
                }
                continue;
            };
            let Some(feishu) = feishu else {
                self.violation(
                    3,
                    format!(
                        "{}: Feishu never got it (accepted base v{})",
                        plan.id, base.version
                    ),
                );
                continue;
            };
            let expected_status = state.instance_status(derive).unwrap_or_default();
            let expected_tasks = state.task_statuses();
            let tasks: Vec<(String, String)> = feishu
                .tasks
                .iter()
                .map(|task| (task.task_id.clone(), task.status.clone()))
                .collect();
            let same_tasks = {
                let mut expected = expected_tasks.clone();
                let mut actual = tasks.clone();
                expected.sort();
                actual.sort();
                expected == actual
            };
            let content = feishu.instance["form"] == base.instance["form"]
                && feishu.instance["title"] == base.instance["title"];
            if feishu.status != expected_status || !same_tasks || !content {
                self.violation(
                    3,
                    format!(
                        "{}: Feishu holds {} {:?} (form {}), the company's base v{} with the accepted decisions gives {expected_status} {expected_tasks:?} (form {})",
                        plan.id,
                        feishu.status,
                        tasks,
                        feishu.instance["form"][0]["value"],
                        base.version,
                        base.instance["form"][0]["value"],
                    ),
                );
            }
            let highest = feishu
                .pushes
                .iter()
                .map(|push| push.update_time)
                .max()
                .unwrap_or_default();
            let head_version = self
                .evidence
                .records
                .get(&plan.id)
                .and_then(|records| records.head.as_ref())
                .map_or(0, |head| head.push_version.as_millis());
            if feishu.update_time != highest
                || u64::try_from(feishu.update_time).ok() != Some(head_version)
            {
                self.violation(
                    4,
                    format!(
                        "{}: Feishu holds the push of update_time {}, the highest pushed was {highest} and the head's is {head_version}",
                        plan.id, feishu.update_time
                    ),
                );
            }
        }
    }

    /// Invariants 5 and 2: events.
    fn events(&mut self) {
        let published = &self.evidence.seen.published;
        let mut by_delivery: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut refused: BTreeSet<String> = BTreeSet::new();
        let mut delivery_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut known: BTreeSet<String> = BTreeSet::new();
        for event in published {
            match &event.event {
                BridgeEvent::Decision(decision) => {
                    if decision.instance_known {
                        known.insert(decision.decision_id.clone());
                    }
                    by_delivery
                        .entry(decision.delivery_id.clone())
                        .or_default()
                        .insert(decision.decision_id.clone());
                    delivery_of
                        .entry(decision.decision_id.clone())
                        .or_default()
                        .insert(decision.delivery_id.clone());
                }
                BridgeEvent::Refused(refusal) => {
                    refused.insert(refusal.delivery_id.clone());
                }
            }
        }
        let mut found = Vec::new();
        for (number, job) in self.evidence.jobs.iter().enumerate() {
            let JobKind::Decision { delivery_id, .. } = &job.kind else {
                continue;
            };
            let Some(judged) = self.judged.get(delivery_id) else {
                continue;
            };
            let ids = by_delivery.get(delivery_id);
            match &judged.verdict {
                Verdict::Accepted { .. } | Verdict::Forwarded { .. } => {
                    let expected = judged.decision_id.clone().unwrap_or_default();
                    match ids {
                        None if !job.parked() => found.push(Violation {
                            invariant: 5,
                            message: format!(
                                "job #{number}: decision {delivery_id} was accepted ({expected}) but never published"
                            ),
                        }),
                        Some(ids) if ids.len() > 1 || !ids.contains(&expected) => {
                            found.push(Violation {
                                invariant: 5,
                                message: format!(
                                    "job #{number}: decision {delivery_id} ({expected}) was published as {ids:?}"
                                ),
                            });
                        }
                        _ => {}
                    }
                }
                Verdict::Duplicate { .. } | Verdict::Refused { .. } => {
                    if let Some(ids) = ids {
                        found.push(Violation {
                            invariant: 5,
                            message: format!(
                                "job #{number}: decision {delivery_id} was judged {:?} but published as accepted {ids:?}",
                                judged.verdict
                            ),
                        });
                    }
                    if matches!(judged.verdict, Verdict::Refused { .. })
                        && !refused.contains(delivery_id)
                        && !job.parked()
                    {
                        found.push(Violation {
                            invariant: 5,
                            message: format!(
                                "job #{number}: refused decision {delivery_id} has no refusal event"
                            ),
                        });
                    }
                }
            }
        }
        for (decision_id, deliveries) in &delivery_of {
            if deliveries.len() > 1 {
                found.push(Violation {
                    invariant: 5,
                    message: format!(
                        "decision {decision_id} was published by several deliveries {deliveries:?}"
                    ),
                });
            }
        }
        // Invariant 2 on the bus: one action per task version.
        let mut actions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        // Decisions on instances the bridge never saw are the company's to judge.
        for decision_id in &known {
            if let Some((task_version, action)) = decision_id.rsplit_once('/')
                && model::decided_status(action).is_some()
            {
                actions
                    .entry(task_version.to_owned())
                    .or_default()
                    .insert(action.to_owned());
            }
        }
        for (task_version, actions) in actions {
            if actions.len() > 1 {
                found.push(Violation {
                    invariant: 2,
                    message: format!("task {task_version} was published as decided {actions:?}"),
                });
            }
        }
        self.violations.extend(found);
    }

    /// Invariant 6: every card shows what the lifecycle gives its task and instance.
    fn cards(&mut self) {
        let derive = self.evidence.derive;
        let messaged: BTreeSet<String> = self
            .evidence
            .jobs
            .iter()
            .filter_map(|job| match &job.kind {
                JobKind::Message { message_id, .. } => Some(message_id.clone()),
                _ => None,
            })
            .collect();
        let mut found = Vec::new();
        for card in self.evidence.sim.cards() {
            let Some(context) = card_context(&card) else {
                continue;
            };
            let Some(index) = self
                .evidence
                .workload
                .instances
                .iter()
                .position(|plan| plan.id == context.instance_id)
            else {
                continue;
            };
            self.world.count("card sent");
            if messaged.contains(&card.message_id) {
                self.world.count("card exempt: set by a message job");
                continue;
            }
            if self.last_job_parked(index) {
                continue;
            }
            let state = self.final_state(&context.instance_id);
            let Some(instance_status) = state.instance_status(derive) else {
                continue;
            };
            let task_status = state.task_status(&context.task_id);
            let known = self
                .evidence
                .records
                .get(&context.instance_id)
                .is_some_and(|records| {
                    records.cards.iter().any(|stored| {
                        stored
                            .message_id
                            .as_ref()
                            .map(ToString::to_string)
                            .as_deref()
                            == Some(card.message_id.as_str())
                    })
                });
            if !known {
                self.world.count("card whose id the bridge never learnt");
            }
            let target = model::card_target(&instance_status, task_status.as_deref());
            let fine = match target {
                Some(target) if known => card.status == target,
                Some(target) => card.status == target || card.status == "PENDING",
                // Nothing new: the card may stay as it is (it never goes back to pending).
                None => true,
            };
            if !fine {
                found.push(Violation {
                    invariant: 6,
                    message: format!(
                        "card {} of {}/{} shows {}; the lifecycle gives {target:?} (task {task_status:?}, instance {instance_status}, card known to the bridge: {known})",
                        card.message_id, context.instance_id, context.task_id, card.status
                    ),
                });
            }
        }
        self.violations.extend(found);
    }
}

/// The model's state, for a violation message.
fn describe_state(state: &State, derive: bool) -> String {
    match &state.base {
        None => "no base".to_owned(),
        Some(base) => format!(
            "base v{}, instance {}, tasks {:?}, task versions {:?}",
            base.version,
            state.instance_status(derive).unwrap_or_default(),
            state.task_statuses(),
            base.task_versions
        ),
    }
}
