//! [`SyncService`]: what every job runs against, and the one load → plan → write loop all job
//! kinds share ([`SyncService::settle`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use feishu_bridge::client::FeishuClient;
use feishu_bridge::clock::Clock;
use feishu_bridge::handoff::HandoffKeys;
use feishu_bridge::job::DecisionJob;
use feishu_bridge::secrets::CredentialSource;
use feishu_bridge::store::{Commit, InstanceRecords, InstanceStore, Lease, StoreError};
use tokio::time::Instant;

use crate::config::SyncSettings;
use crate::error::SyncError;
use crate::events::EventPublisher;
use crate::plan::PlanContext;

/// Write attempts before a job gives up on a contended instance (Lambda then retries the job).
/// Each attempt is one small conditional write, so this is only reached under a storm.
pub const MAX_WRITE_ATTEMPTS: u32 = 25;

/// How often an execution waiting for another one's lease looks again.
pub(crate) const LEASE_POLL: Duration = Duration::from_millis(100);

/// Everything a job needs: one Feishu client, the app credentials (for bot cards), the instance
/// store, the event publisher, a clock and the settings. Built once per process.
#[derive(Debug)]
pub struct SyncService<S, P> {
    pub(crate) feishu: FeishuClient,
    pub(crate) credentials: Arc<CredentialSource>,
    pub(crate) store: S,
    pub(crate) publisher: P,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: SyncSettings,
    /// Names this process's executions in leases: `<tag>-<n>`.
    execution_tag: String,
    executions: AtomicU64,
}

impl<S: InstanceStore, P: EventPublisher> SyncService<S, P> {
    /// A service over these clients. `credentials` should be the source `feishu` was built with.
    pub fn new(
        feishu: FeishuClient,
        credentials: Arc<CredentialSource>,
        store: S,
        publisher: P,
        clock: Arc<dyn Clock>,
        settings: SyncSettings,
    ) -> Self {
        Self {
            feishu,
            credentials,
            store,
            publisher,
            clock,
            settings,
            execution_tag: format!("{:08x}", rand::random::<u32>()),
            executions: AtomicU64::new(0),
        }
    }

    /// The same service naming its executions `<tag>-<n>` instead of by a random tag, so a
    /// simulation replays identically.
    pub fn with_execution_tag(mut self, tag: impl Into<String>) -> Self {
        self.execution_tag = tag.into();
        self
    }

    /// The instance store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The event publisher.
    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// The Feishu client.
    pub fn feishu(&self) -> &FeishuClient {
        &self.feishu
    }

    /// The settings.
    pub fn settings(&self) -> &SyncSettings {
        &self.settings
    }

    /// Checks that the callback function made decision `job` (its hand-off proof, under the
    /// current or previous callback pair's key), before anything of it is read or written.
    pub(crate) async fn verify_handoff(&self, job: &DecisionJob) -> Result<(), SyncError> {
        let callback = self
            .credentials
            .callback()
            .get()
            .await
            .map_err(SyncError::Credentials)?;
        match HandoffKeys::new(&callback).verify(job) {
            Ok(pair) => {
                tracing::debug!(pair = pair.as_str(), "the decision job's proof verified");
                Ok(())
            }
            Err(error) => {
                feishu_bridge::metrics::unproven_decision();
                tracing::warn!(
                    reason = %error,
                    "refused a decision job the callback function did not make"
                );
                Err(SyncError::UnprovenDecision(error))
            }
        }
    }

    /// A lease for an execution ending at `deadline`: it never outlives the execution.
    pub(crate) fn lease(&self, deadline: Instant) -> Lease {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let remaining = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
        let execution = self.executions.fetch_add(1, Ordering::Relaxed);
        Lease {
            owner: format!("{}-{execution}", self.execution_tag),
            until: self.clock.now().as_millis().saturating_add(remaining),
        }
    }

    /// The planning context now, for an execution holding `lease`.
    pub(crate) fn plan_context(&self, lease: &Lease) -> PlanContext {
        PlanContext {
            now: self.clock.now(),
            lease: lease.clone(),
            policy: self.settings.instance_status_policy,
            record_ttl: self.settings.record_ttl,
            tombstone_ttl: self.settings.tombstone_ttl,
        }
    }

    /// The load → plan → write loop: loads the records of `records_id`, asks `plan` what to
    /// write, writes it conditionally, and on a conflict loads and plans again. Returns the
    /// records as they are after the write, with what `plan` said.
    pub(crate) async fn settle<T>(
        &self,
        records_id: &str,
        lease: &Lease,
        deadline: Instant,
        mut plan: impl FnMut(&InstanceRecords, &PlanContext) -> Step<T>,
    ) -> Result<(InstanceRecords, T), SyncError> {
        let mut attempts = 0;
        while attempts < MAX_WRITE_ATTEMPTS {
            attempts += 1;
            let mut records = self.store.load(records_id).await?;
            let ctx = self.plan_context(lease);
            match plan(&records, &ctx) {
                Step::Done(value) => return Ok((records, value)),
                Step::Commit(commit, value) => match self.store.commit(&commit).await {
                    Ok(()) => {
                        commit.apply_to(&mut records);
                        return Ok((records, value));
                    }
                    Err(StoreError::Conflict { .. }) => {
                        feishu_bridge::metrics::store_conflict();
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                },
                Step::Claim { delivery_id, value } => {
                    let now = ctx.now.as_millis();
                    if self
                        .store
                        .claim_delivery(records_id, &delivery_id, lease, now)
                        .await?
                    {
                        if let Some(delivery) = records
                            .deliveries
                            .iter_mut()
                            .find(|delivery| delivery.delivery_id == delivery_id)
                        {
                            delivery.lease = Some(lease.clone());
                        }
                        return Ok((records, value));
                    }
                }
                Step::Wait {
                    delivery_id,
                    until_ms,
                } => {
                    let wait = Duration::from_millis(until_ms.saturating_sub(ctx.now.as_millis()))
                        .min(LEASE_POLL);
                    if Instant::now() + wait >= deadline {
                        return Err(SyncError::DecisionInFlight { delivery_id });
                    }
                    // Waiting for another execution is not a write attempt.
                    attempts -= 1;
                    tokio::time::sleep(wait).await;
                }
            }
        }
        Err(SyncError::TooManyConflicts {
            instance_id: records_id.to_owned(),
            attempts: MAX_WRITE_ATTEMPTS,
        })
    }
}

/// When a job must be done: its Feishu calls by `calls`, its bookkeeping by `stop` (when its
/// leases end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// The budget of Feishu calls and waits.
    pub calls: Instant,
    /// The hard stop.
    pub stop: Instant,
}

/// What a plan asks the loop to do.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// Write `Commit`, then carry on with the value.
    Commit(Box<Commit>, T),
    /// Take over the (already judged) delivery, then carry on.
    Claim {
        /// The delivery.
        delivery_id: String,
        /// What to carry on with.
        value: T,
    },
    /// Nothing to write.
    Done(T),
    /// Another execution holds the delivery: wait and plan again.
    Wait {
        /// The delivery.
        delivery_id: String,
        /// When its lease runs out (Unix ms).
        until_ms: u64,
    },
}
