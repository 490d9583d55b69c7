//! Reconcile jobs: Feishu brought in line with the records, for the instances changed within a
//! window (scheduled every 15 minutes over the last 20, by default).
//!
//! The instances come from the store's recent-changes index
//! ([`InstanceStore::recently_changed`]), never from a scan, so a run costs what the window
//! holds, not what the table holds. They are taken oldest change first, in rounds of one check
//! batch: load each instance's records, derive what Feishu must hold, and ask
//! `external_instances/check` (`feishu-api.md` §4.2) with the derived instance's `update_time`
//! and each task's `update_time`, exactly as they were pushed. Every instance Feishu does not
//! know, or holds an older version of (the instance or one of its tasks), is pushed again with
//! [`push_latest`], so the overtaking rules of every other push hold (the latest position wins);
//! an instance Feishu holds a *newer* version of is pushed again too unless its head moved since
//! it was loaded (then the job that moved it pushes it). Cards whose status lags their task are
//! brought in line ([`sync_cards`]).
//!
//! Feishu documents no maximum batch size for a check: a batch Feishu refuses is split in halves
//! and asked again, down to single instances (a refused single instance is a failure of its
//! own), and when every half was accepted the job keeps the accepted size for its later rounds.
//!
//! Bounds: the client paces each Feishu API (20 requests a second by default), so a round's
//! check and re-pushes take at least their count over that rate; a round is started only while
//! [`ROUND_RESERVE`] of the job's budget is left. A window that does not fit ends the job with
//! [`SyncError::ReconcileIncomplete`] naming the job that resumes it (`since` = the first
//! change not reached). Instances that could not be brought in line fail the job the same way
//! after the rest of the window is done, so Lambda retries it and, if it keeps failing, the
//! failure queue and the errors alarm say which instances are out of sync.

use std::collections::HashMap;
use std::time::Duration;

use feishu_bridge::job::{ReconcileJob, ReconcileWindow, SyncJob};
use feishu_bridge::models::check::{CheckInstancesRequest, InstanceVersion};
use feishu_bridge::store::{InstanceRecords, InstanceStore, RecentChange, StoreError};
use futures::{StreamExt, stream};
use tokio::time::Instant;

use crate::effects::{PushOutcome, push_latest, sync_cards};
use crate::error::SyncError;
use crate::events::EventPublisher;
use crate::plan::card_updates;
use crate::service::{Deadlines, SyncService};
use crate::summary::{CHECK_INSTANCES_API, FeishuCall, ReconcileFailure, ReconcileSummary};

/// Instance records loaded at once within a round.
const LOAD_CONCURRENCY: usize = 8;
/// Re-pushes in flight at once (the client's pacing sets the rate; this covers the latency).
const PUSH_CONCURRENCY: usize = 8;
/// A round (loads, one check, its re-pushes and card updates) starts only while this much of
/// the job's budget is left.
pub const ROUND_RESERVE: Duration = Duration::from_secs(3);
/// Failures named in the error of an incomplete run (all are in the logged summary).
const FAILURES_NAMED: usize = 3;

/// Feishu's answer to the checks of one round.
struct Checked {
    /// The `diff_instances` entries.
    diffs: Vec<InstanceVersion>,
    /// Instances Feishu refused to check, even alone.
    refused: Vec<String>,
}

/// How the version Feishu holds differs from the derived one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Difference {
    /// Feishu does not know the instance.
    Missing,
    /// Feishu's instance, or one of its tasks, is older (or the task unknown).
    Older,
    /// Feishu holds versions newer than the derived ones.
    Newer,
}

/// How `theirs` (a `diff_instances` entry) differs from `ours` (what was checked).
fn classify(ours: &InstanceVersion, theirs: &InstanceVersion) -> Difference {
    if theirs.is_unknown_to_feishu() {
        return Difference::Missing;
    }
    if theirs.update_time != ours.update_time {
        return if theirs.update_time < ours.update_time {
            Difference::Older
        } else {
            Difference::Newer
        };
    }
    let older_task = theirs.tasks.iter().any(|task| {
        ours.tasks
            .iter()
            .find(|ours| ours.task_id == task.task_id)
            .is_some_and(|ours| task.update_time < ours.update_time)
    });
    if older_task {
        Difference::Older
    } else {
        Difference::Newer
    }
}

/// Runs a reconcile job.
pub(crate) async fn handle_reconcile<S, P>(
    service: &SyncService<S, P>,
    job: ReconcileJob,
    deadlines: Deadlines,
) -> Result<ReconcileSummary, SyncError>
where
    S: InstanceStore,
    P: EventPublisher,
{
    let (since, until) = job.window.bounds(service.clock.now());
    let changes = service
        .store
        .recently_changed(since.as_millis(), until.as_millis())
        .await?;
    let mut run = Run {
        service,
        deadlines,
        batch: service.settings.reconcile.check_batch.get(),
        summary: ReconcileSummary {
            since,
            until,
            changed: changes.len(),
            checked: 0,
            in_sync: 0,
            without_base: 0,
            missing: Vec::new(),
            older: Vec::new(),
            newer: Vec::new(),
            repushed: Vec::new(),
            cards_updated: Vec::new(),
            check_batch: 0,
            calls: Vec::new(),
            failures: Vec::new(),
            resume: None,
        },
    };
    let mut next = 0;
    while next < changes.len() {
        if Instant::now() + ROUND_RESERVE >= deadlines.calls {
            run.resume_from(&changes[next]);
            break;
        }
        let end = (next + run.batch).min(changes.len());
        match run.round(&changes[next..end]).await {
            Ok(()) => next = end,
            Err(error) => {
                tracing::warn!(%error, "a check failed; the rest of the window is left for later");
                run.resume_from(&changes[next]);
                break;
            }
        }
    }
    run.summary.check_batch = run.batch;
    run.summary.repushed.sort();
    run.finish()
}

/// One reconcile job in progress.
struct Run<'a, S, P> {
    service: &'a SyncService<S, P>,
    deadlines: Deadlines,
    /// The current check batch size.
    batch: usize,
    summary: ReconcileSummary,
}

impl<S: InstanceStore, P: EventPublisher> Run<'_, S, P> {
    /// Reconciles one batch of changes. Fails only when the check could not be answered (the
    /// round is then left for the job that resumes the window).
    async fn round(&mut self, changes: &[RecentChange]) -> Result<(), SyncError> {
        let service = self.service;
        let policy = service.settings.instance_status_policy;
        let ids: Vec<String> = changes.iter().map(|c| c.instance_id.clone()).collect();
        let loaded: Vec<(String, Result<InstanceRecords, StoreError>)> = stream::iter(ids)
            .map(|id| async move {
                let records = service.store.load(&id).await;
                (id, records)
            })
            .buffered(LOAD_CONCURRENCY)
            .collect()
            .await;
        let mut checked: Vec<(InstanceRecords, InstanceVersion)> = Vec::new();
        for (instance_id, records) in loaded {
            match records {
                Err(error) => self.fail(instance_id, &error.into()),
                Ok(records) => match records.derive(policy) {
                    Some(instance) => {
                        let version = InstanceVersion::of(&instance);
                        checked.push((records, version));
                    }
                    None => self.summary.without_base += 1,
                },
            }
        }
        if checked.is_empty() {
            return Ok(());
        }
        let versions = checked.iter().map(|(_, version)| version.clone()).collect();
        let Checked { diffs, refused } = self.check(versions).await?;
        self.summary.checked += checked.len();

        let mut differing: HashMap<&str, Difference> = HashMap::new();
        for diff in &diffs {
            if let Some((_, ours)) = checked
                .iter()
                .find(|(records, _)| records.instance_id == diff.instance_id)
            {
                differing.insert(ours.instance_id.as_str(), classify(ours, diff));
            }
        }
        let mut to_push = Vec::new();
        for (records, version) in &checked {
            let id = version.instance_id.as_str();
            let Some(difference) = differing.get(id) else {
                if !refused.iter().any(|refused| refused == id) {
                    self.summary.in_sync += 1;
                }
                continue;
            };
            match difference {
                Difference::Missing => self.summary.missing.push(id.to_owned()),
                Difference::Older => self.summary.older.push(id.to_owned()),
                Difference::Newer => {
                    self.summary.newer.push(id.to_owned());
                    let head = service.store.load_head(id).await;
                    match head {
                        Ok(head) if head.as_ref().is_some_and(|head| head.seq != records.seq()) => {
                            tracing::info!(
                                instance_id = id,
                                "Feishu holds a newer version and the instance moved since; \
                                 its own job pushes it"
                            );
                            continue;
                        }
                        Ok(_) => {}
                        Err(error) => {
                            self.fail(id.to_owned(), &error.into());
                            continue;
                        }
                    }
                }
            }
            to_push.push(records.clone());
        }
        self.repush(to_push).await;
        self.sync_cards(checked.into_iter().map(|(records, _)| records))
            .await;
        Ok(())
    }

    /// Asks Feishu about `versions`. A request Feishu refuses is split in halves and asked
    /// again, down to single instances; a refused single instance is recorded as a failure.
    /// When splitting was needed and every part was accepted, the job's batch size becomes the
    /// largest accepted part. A failure that retrying may fix (after the client's own retries)
    /// ends the round.
    async fn check(&mut self, versions: Vec<InstanceVersion>) -> Result<Checked, SyncError> {
        let mut pending = vec![versions];
        let mut diffs = Vec::new();
        let mut refused = Vec::new();
        let mut split = false;
        let mut largest_accepted = 0;
        while let Some(instances) = pending.pop() {
            let size = instances.len();
            let target = format!("{size} instances");
            let request = CheckInstancesRequest { instances };
            match self
                .service
                .feishu
                .check_instances(&request, self.deadlines.calls)
                .await
            {
                Ok(answer) => {
                    self.summary
                        .calls
                        .push(FeishuCall::accepted(CHECK_INSTANCES_API, target));
                    largest_accepted = largest_accepted.max(size);
                    diffs.extend(answer.diff_instances);
                }
                Err(error) => {
                    self.summary.calls.push(FeishuCall::failed(
                        CHECK_INSTANCES_API,
                        target,
                        &error,
                    ));
                    if error.is_retryable() {
                        return Err(SyncError::feishu(
                            CHECK_INSTANCES_API,
                            format!("{size} instances"),
                            error,
                        ));
                    }
                    let mut first = request.instances;
                    if first.len() > 1 {
                        split = true;
                        let second = first.split_off(first.len() / 2);
                        pending.push(second);
                        pending.push(first);
                    } else if let Some(only) = first.pop() {
                        let error =
                            SyncError::feishu(CHECK_INSTANCES_API, only.instance_id.clone(), error);
                        self.fail(only.instance_id.clone(), &error);
                        refused.push(only.instance_id);
                    }
                }
            }
        }
        if split && refused.is_empty() && largest_accepted > 0 {
            tracing::warn!(
                from = self.batch,
                to = largest_accepted,
                "Feishu refused check batches; later batches are smaller"
            );
            self.batch = self.batch.min(largest_accepted);
        }
        Ok(Checked { diffs, refused })
    }

    /// Pushes each of `stale` again (several at once; the client paces them).
    async fn repush(&mut self, stale: Vec<InstanceRecords>) {
        let service = self.service;
        let deadline = self.deadlines.calls;
        let lease = &service.lease(self.deadlines.stop);
        let pushed: Vec<_> = stream::iter(stale)
            .map(|records| async move {
                let instance_id = records.instance_id.clone();
                let mut calls = Vec::new();
                let result = push_latest(service, records, lease, deadline, &mut calls).await;
                (instance_id, calls, result)
            })
            .buffer_unordered(PUSH_CONCURRENCY)
            .collect()
            .await;
        for (instance_id, calls, result) in pushed {
            self.summary.calls.extend(calls);
            match result {
                Ok(PushOutcome::Pushed) => self.summary.repushed.push(instance_id),
                // Another execution is pushing it right now, the latest state included.
                Ok(PushOutcome::Superseded | PushOutcome::Nothing) => {}
                Err(error) => self.fail(instance_id, &error),
            }
        }
    }

    /// Brings the cards of each instance whose cards lag their tasks in line.
    async fn sync_cards(&mut self, instances: impl Iterator<Item = InstanceRecords>) {
        let service = self.service;
        let policy = service.settings.instance_status_policy;
        let lease = service.lease(self.deadlines.stop);
        for records in instances {
            let now_ms = service.clock.now().as_millis();
            if card_updates(&records, policy, now_ms).is_empty() {
                continue;
            }
            let instance_id = records.instance_id.clone();
            let result = sync_cards(
                service,
                records,
                &lease,
                self.deadlines.calls,
                &mut self.summary.calls,
                &mut self.summary.cards_updated,
            )
            .await;
            if let Err(error) = result {
                self.fail(instance_id, &error);
            }
        }
    }

    /// Records that `instance_id` could not be brought in line.
    fn fail(&mut self, instance_id: String, error: &SyncError) {
        tracing::warn!(instance_id, %error, "reconcile could not bring the instance in line");
        self.summary.failures.push(ReconcileFailure {
            instance_id,
            error_type: error.error_type(),
            error: error.to_string(),
        });
    }

    /// Ends the run early: the rest of the window, from `change` on, is for the job that
    /// resumes it.
    fn resume_from(&mut self, change: &RecentChange) {
        let window = ReconcileWindow::Between {
            since: feishu_bridge::models::time::UnixMillis::from_millis(change.touched_at),
            until: self.summary.until,
        };
        self.summary.resume = Some(SyncJob::Reconcile(ReconcileJob { window }));
    }

    /// The summary, or the failure of a run that left instances out of sync.
    fn finish(self) -> Result<ReconcileSummary, SyncError> {
        let summary = self.summary;
        let json = serde_json::to_string(&summary).unwrap_or_default();
        if summary.failures.is_empty() && summary.resume.is_none() {
            return Ok(summary);
        }
        tracing::warn!(summary = %json, "reconcile incomplete");
        let mut parts = Vec::new();
        if !summary.failures.is_empty() {
            let named: Vec<String> = summary
                .failures
                .iter()
                .take(FAILURES_NAMED)
                .map(|failure| format!("{}: {}", failure.instance_id, failure.error))
                .collect();
            parts.push(format!(
                "{} instance(s) left out of sync ({}{})",
                summary.failures.len(),
                named.join("; "),
                if summary.failures.len() > FAILURES_NAMED {
                    "; …"
                } else {
                    ""
                }
            ));
        }
        if let Some(resume) = &summary.resume {
            let job = serde_json::to_string(resume).unwrap_or_default();
            parts.push(format!(
                "the window did not fit in the job's time; resume with {job}"
            ));
        }
        let retryable = summary.resume.is_some()
            || summary
                .failures
                .iter()
                .any(|failure| is_retryable_type(failure.error_type));
        Err(SyncError::ReconcileIncomplete {
            since: summary.since,
            until: summary.until,
            detail: parts.join("; "),
            retryable,
        })
    }
}

/// Whether a failure of Lambda error type `error_type` may pass on a later run.
fn is_retryable_type(error_type: &str) -> bool {
    !matches!(
        error_type,
        "FeishuRejected" | "InvalidJob" | "StoreCorrupt" | "RecordTooLarge" | "NotConfigured"
    )
}

#[cfg(test)]
mod tests {
    use feishu_bridge::models::check::TaskVersion;
    use feishu_bridge::models::time::UnixMillis;

    use super::*;

    fn version(update_time: u64, tasks: &[(&str, u64)]) -> InstanceVersion {
        InstanceVersion {
            instance_id: "i-1".to_owned(),
            update_time: UnixMillis::from_millis(update_time),
            tasks: tasks
                .iter()
                .map(|(task_id, time)| TaskVersion {
                    task_id: (*task_id).to_owned(),
                    update_time: UnixMillis::from_millis(*time),
                })
                .collect(),
        }
    }

    #[test]
    fn differences_are_told_apart_by_feishus_versions() {
        let ours = version(20, &[("t1", 10), ("t2", 15)]);
        assert_eq!(classify(&ours, &version(0, &[])), Difference::Missing);
        assert_eq!(classify(&ours, &version(19, &[])), Difference::Older);
        assert_eq!(classify(&ours, &version(21, &[])), Difference::Newer);
        // Same instance version: the tasks decide; an unknown task comes back as 0.
        assert_eq!(
            classify(&ours, &version(20, &[("t2", 0)])),
            Difference::Older
        );
        assert_eq!(
            classify(&ours, &version(20, &[("t1", 9)])),
            Difference::Older
        );
        assert_eq!(
            classify(&ours, &version(20, &[("t1", 11)])),
            Difference::Newer
        );
    }
}
