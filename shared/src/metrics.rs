//! CloudWatch metrics in the Embedded Metric Format (EMF): JSON lines on standard output that
//! CloudWatch Logs turns into metrics, with no API call from the function.
//!
//! - [`EmfDocument`]: one EMF document — one value per dimension, metrics grouped by the dimension
//!   sets they are aggregated over, and properties (searchable log fields that are not metrics);
//! - [`EmfEmitter`]: the namespace, and the writer of a batch of documents as contiguous lines;
//! - [`JobMetrics`]: the per-job collector of the sync function. The Feishu client
//!   ([`feishu_call`], [`feishu_retry`], [`token_refresh`]) and the job's steps
//!   ([`store_conflict`], [`event_published`], [`decision_applied`], [`unproven_decision`])
//!   record into it while the job
//!   runs inside [`JobMetrics::scope`]; [`JobMetrics::finish`] turns it into documents that are
//!   written once, at the end of the job.
//!
//! Dimensions are low-cardinality by construction: their names are `&'static str` and their
//! values come from closed sets (outcomes, job types, API paths, Feishu codes). Instance, task and
//! message ids are properties, never dimensions.
//!
//! One EMF document carries one value per dimension, so a job that called two Feishu APIs is
//! written as one job document plus one document per (API, result code) it met — all in one
//! write, at the end of the job.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

use crate::client::{CallObserver, CallReport};
use crate::models::time::UnixMillis;

/// Environment variable naming the CloudWatch namespace of every metric.
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";

/// The namespace when [`METRICS_NAMESPACE`] is unset (the template's default too).
pub const DEFAULT_NAMESPACE: &str = "FeishuApprovalBridge";

/// Most values one metric may carry in one document (EMF specification).
pub const MAX_VALUES_PER_METRIC: usize = 100;

/// The unit of a metric, as EMF spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count of events.
    Count,
    /// A duration in milliseconds.
    Milliseconds,
}

impl Unit {
    /// The EMF / CloudWatch name of the unit.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric of a document: a name, a unit and one or more values (each value is a datapoint).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    name: &'static str,
    unit: Unit,
    values: Vec<f64>,
}

impl Metric {
    /// A count.
    pub fn count(name: &'static str, count: u64) -> Self {
        Self {
            name,
            unit: Unit::Count,
            // Counts stay far below 2^53, where f64 would round them.
            values: vec![count as f64],
        }
    }

    /// One or more durations, in milliseconds with microsecond precision.
    pub fn millis(name: &'static str, durations: impl IntoIterator<Item = Duration>) -> Self {
        Self {
            name,
            unit: Unit::Milliseconds,
            values: durations.into_iter().map(duration_millis).collect(),
        }
    }
}

/// A duration as fractional milliseconds.
fn duration_millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A group of metrics aggregated over the same dimension sets (an EMF metric directive).
#[derive(Debug, Clone, PartialEq)]
struct Directive {
    dimension_sets: &'static [&'static [&'static str]],
    metrics: Vec<Metric>,
}

/// One EMF document: dimension values, metric directives and properties, rendered as one JSON
/// line by [`EmfEmitter`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmfDocument {
    dimensions: Vec<(&'static str, String)>,
    directives: Vec<Directive>,
    /// Shared: the documents of one job carry the same properties.
    properties: Arc<Map<String, Value>>,
}

impl EmfDocument {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value of dimension `name` (replacing an earlier value). Pass only values from a
    /// closed set: every distinct value is a new CloudWatch metric.
    pub fn dimension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.dimensions.iter_mut().find(|(known, _)| *known == name) {
            Some(entry) => entry.1 = value,
            None => self.dimensions.push((name, value)),
        }
        self
    }

    /// Adds `metrics`, aggregated over each of `dimension_sets` (each set names dimensions given
    /// with [`Self::dimension`]; an empty set aggregates over all of them).
    pub fn metrics(
        mut self,
        dimension_sets: &'static [&'static [&'static str]],
        metrics: impl IntoIterator<Item = Metric>,
    ) -> Self {
        self.directives.push(Directive {
            dimension_sets,
            metrics: metrics.into_iter().collect(),
        });
        self
    }

    /// Sets a property: a field for Logs Insights that is not a metric (ids, request ids).
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        Arc::make_mut(&mut self.properties).insert(name.to_owned(), value.into());
        self
    }

    /// Sets a property when `value` is present.
    pub fn optional_property(self, name: &str, value: Option<impl Into<Value>>) -> Self {
        match value {
            Some(value) => self.property(name, value),
            None => self,
        }
    }

    /// The value of metric `name`, if the document has it (its first value).
    pub fn metric_value(&self, name: &str) -> Option<f64> {
        self.directives
            .iter()
            .flat_map(|directive| &directive.metrics)
            .find(|metric| metric.name == name)
            .and_then(|metric| metric.values.first().copied())
    }

    /// The value of dimension `name`, if set.
    pub fn dimension_value(&self, name: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether a dimension or a metric of the document is called `name`.
    fn names_member(&self, name: &str) -> bool {
        self.dimensions.iter().any(|(known, _)| *known == name)
            || self.all_metrics().any(|metric| metric.name == name)
    }

    fn all_metrics(&self) -> impl Iterator<Item = &Metric> {
        self.directives
            .iter()
            .flat_map(|directive| &directive.metrics)
    }

    /// Appends the document as one EMF JSON line (ending in `\n`) under `namespace`, stamped
    /// `timestamp_ms`. A property named like a dimension or metric is left out.
    pub fn write_line(&self, namespace: &Namespace, timestamp_ms: u64, out: &mut Vec<u8>) {
        let rendered = Rendered {
            document: self,
            namespace,
            timestamp_ms,
        };
        // Serializing into a Vec cannot fail: every key is a string and every number finite
        // or written as null.
        if serde_json::to_writer(&mut *out, &rendered).is_ok() {
            out.push(b'\n');
        }
    }
}

/// A document with what its JSON line needs besides itself.
struct Rendered<'a> {
    document: &'a EmfDocument,
    namespace: &'a Namespace,
    timestamp_ms: u64,
}

impl Serialize for Rendered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let document = self.document;
        let mut root = serializer.serialize_map(None)?;
        for (name, value) in document.properties.iter() {
            if !document.names_member(name) {
                root.serialize_entry(name, value)?;
            }
        }
        for (name, value) in &document.dimensions {
            root.serialize_entry(name, value)?;
        }
        for metric in document.all_metrics() {
            match metric.values.as_slice() {
                [single] => root.serialize_entry(metric.name, single)?,
                many => root.serialize_entry(metric.name, many)?,
            }
        }
        root.serialize_entry(
            "_aws",
            &Metadata {
                timestamp_ms: self.timestamp_ms,
                namespace: self.namespace,
                directives: &document.directives,
            },
        )?;
        root.end()
    }
}

/// The `_aws` member: timestamp and metric directives.
struct Metadata<'a> {
    timestamp_ms: u64,
    namespace: &'a Namespace,
    directives: &'a [Directive],
}

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut metadata = serializer.serialize_map(Some(2))?;
        metadata.serialize_entry("Timestamp", &self.timestamp_ms)?;
        let directives: Vec<DirectiveView<'_>> = self
            .directives
            .iter()
            .map(|directive| DirectiveView {
                namespace: self.namespace,
                directive,
            })
            .collect();
        metadata.serialize_entry("CloudWatchMetrics", &directives)?;
        metadata.end()
    }
}

/// One metric directive under its namespace.
struct DirectiveView<'a> {
    namespace: &'a Namespace,
    directive: &'a Directive,
}

impl Serialize for DirectiveView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut directive = serializer.serialize_map(Some(3))?;
        directive.serialize_entry("Namespace", self.namespace.as_str())?;
        directive.serialize_entry("Dimensions", self.directive.dimension_sets)?;
        let definitions: Vec<Definition> = self
            .directive
            .metrics
            .iter()
            .map(|metric| Definition {
                name: metric.name,
                unit: metric.unit.as_str(),
            })
            .collect();
        directive.serialize_entry("Metrics", &definitions)?;
        directive.end()
    }
}

/// A metric definition: its name and unit.
#[derive(Serialize)]
struct Definition {
    #[serde(rename = "Name")]
    name: &'static str,
    #[serde(rename = "Unit")]
    unit: &'static str,
}

/// A CloudWatch namespace: 1–255 of `A-Z a-z 0-9 . - _ / # :` and space, not starting `AWS/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(String);

/// Why a namespace was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{METRICS_NAMESPACE} must be 1 to 255 of A-Z a-z 0-9 . - _ / # : or space, not starting with AWS/"
)]
pub struct InvalidNamespace;

impl Namespace {
    /// Checks `name` against CloudWatch's rules.
    pub fn parse(name: &str) -> Result<Self, InvalidNamespace> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
        if name.is_empty()
            || name.len() > 255
            || name.starts_with("AWS/")
            || !name.chars().all(allowed)
        {
            return Err(InvalidNamespace);
        }
        Ok(Self(name.to_owned()))
    }

    /// The namespace.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes documents as EMF JSON lines under one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfEmitter {
    namespace: Namespace,
}

impl EmfEmitter {
    /// An emitter for `namespace`.
    pub fn new(namespace: Namespace) -> Self {
        Self { namespace }
    }

    /// The namespace from [`METRICS_NAMESPACE`], or [`DEFAULT_NAMESPACE`] when it is unset.
    pub fn from_env() -> Result<Self, InvalidNamespace> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Self::from_env`], reading variables through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, InvalidNamespace> {
        let name = lookup(METRICS_NAMESPACE).unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        Ok(Self::new(Namespace::parse(name.trim())?))
    }

    /// The namespace metrics are written under.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The documents as EMF JSON lines, each ending in `\n`, stamped `timestamp_ms`.
    pub fn render(&self, documents: &[EmfDocument], timestamp_ms: u64) -> Vec<u8> {
        let mut lines = Vec::with_capacity(768 * documents.len());
        for document in documents {
            document.write_line(&self.namespace, timestamp_ms, &mut lines);
        }
        lines
    }

    /// Writes the documents to `out` in one write, stamped with the current time.
    pub fn write(&self, documents: &[EmfDocument], mut out: impl Write) -> io::Result<()> {
        if documents.is_empty() {
            return Ok(());
        }
        out.write_all(&self.render(documents, now_millis()))?;
        out.flush()
    }

    /// Writes the documents to standard output, where Lambda passes them to CloudWatch Logs.
    /// A failed write is logged, never raised: metrics must not fail a request.
    pub fn emit(&self, documents: &[EmfDocument]) {
        if let Err(error) = self.write(documents, io::stdout().lock()) {
            tracing::warn!(%error, "could not write metrics to standard output");
        }
    }
}

/// The current time in Unix milliseconds.
fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

// ------------------------------------------------------------------------------ sync jobs

/// Metric and dimension names of the sync function's documents (see the crate README).
pub mod names {
    /// Dimension: the job's `type` (`decision`, `instance`, `message`, …).
    pub const JOB_TYPE: &str = "JobType";
    /// Dimension: how a job ended ([`super::JobOutcome`]).
    pub const OUTCOME: &str = "Outcome";
    /// Dimension: the Feishu API, its path without `/open-apis/` (e.g. `approval/v4/external_instances`).
    pub const API: &str = "Api";
    /// Dimension: the Feishu result ([`super::FeishuResult`]): the body code, `http_<status>` or `transport`.
    pub const CODE: &str = "Code";

    /// Count of jobs, by `JobType` and `Outcome`.
    pub const JOBS: &str = "Jobs";
    /// Milliseconds one job took, by `JobType`.
    pub const JOB_DURATION: &str = "JobDuration";
    /// Milliseconds from the callback's arrival (the approver's tap) to the decision applied in Feishu.
    pub const TAP_TO_APPLIED: &str = "TapToApplied";
    /// Count of tenant token refreshes.
    pub const TOKEN_REFRESHES: &str = "TokenRefreshes";
    /// Count of conditional writes that lost to a concurrent writer.
    pub const STORE_CONFLICTS: &str = "StoreConflicts";
    /// Count of decision events published.
    pub const EVENTS_PUBLISHED: &str = "EventsPublished";
    /// Count of decision jobs refused for want of a valid proof that the callback function made
    /// them (written only by such a job; an alarm watches it).
    pub const UNPROVEN_DECISIONS: &str = "UnprovenDecisions";
    /// Count of Feishu calls (HTTP exchanges), by `Api` and `Code`, by `Code`, and in total.
    pub const FEISHU_CALLS: &str = "FeishuCalls";
    /// Count of Feishu calls that did not answer code 0, by `Api` and in total.
    pub const FEISHU_REJECTED: &str = "FeishuRejected";
    /// Count of Feishu calls the client decided to retry, by `Api` and in total.
    pub const FEISHU_RETRIES: &str = "FeishuRetries";
    /// Milliseconds of each Feishu call, by `Api`.
    pub const FEISHU_LATENCY: &str = "FeishuLatency";
}

/// How a sync job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// It changed Feishu (or the stored state) as asked.
    Applied,
    /// It had been applied before (a repeated delivery); nothing changed.
    Duplicate,
    /// It was refused for good (a decision on a task that is no longer pending).
    Refused,
    /// It was older than the state already stored; nothing changed.
    Stale,
    /// It failed; Lambda retries an asynchronous job, then parks it in the failure queue.
    Failed,
}

impl JobOutcome {
    /// The `Outcome` dimension value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Refused => "refused",
            Self::Stale => "stale",
            Self::Failed => "failed",
        }
    }
}

/// What one Feishu call came back with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FeishuResult {
    /// Feishu answered with this body `code` (0 is success).
    Code(i64),
    /// An HTTP error status without a readable body code.
    HttpStatus(u16),
    /// No answer: connection failure or timeout.
    Transport,
}

impl FeishuResult {
    /// Whether Feishu accepted the call (code 0).
    pub fn is_success(self) -> bool {
        self == Self::Code(0)
    }
}

impl fmt::Display for FeishuResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(code) => write!(f, "{code}"),
            Self::HttpStatus(status) => write!(f, "http_{status}"),
            Self::Transport => f.write_str("transport"),
        }
    }
}

/// The Feishu calls of one job with the same API and result.
#[derive(Debug, Default)]
struct FeishuCalls {
    latencies: Vec<Duration>,
}

/// What a job recorded so far.
#[derive(Debug, Default)]
struct JobRecord {
    properties: Map<String, Value>,
    feishu_calls: BTreeMap<(&'static str, FeishuResult), FeishuCalls>,
    feishu_retries: BTreeMap<&'static str, u64>,
    token_refreshes: u64,
    store_conflicts: u64,
    events_published: u64,
    unproven_decisions: u64,
    tap_to_applied: Option<Duration>,
}

/// The metrics of one sync job, recorded while it runs and turned into documents when it ends.
/// Shared (`&self`) by everything the job runs, including concurrent Feishu calls.
#[derive(Debug)]
pub struct JobMetrics {
    job_type: &'static str,
    started: Instant,
    record: Mutex<JobRecord>,
}

tokio::task_local! {
    /// The job whose metrics the free functions of this module record into.
    static CURRENT_JOB: Arc<JobMetrics>;
}

impl JobMetrics {
    /// Starts the metrics of a job of type `job_type` (its `type` tag), timing it from now.
    pub fn start(job_type: &'static str) -> Arc<Self> {
        Arc::new(Self {
            job_type,
            started: Instant::now(),
            record: Mutex::new(JobRecord::default()),
        })
    }

    /// Runs `job` with these metrics as the current job's, so [`feishu_call`], [`feishu_retry`]
    /// and [`token_refresh`] record into them (in this task; not in tasks it spawns).
    pub async fn scope<F: Future>(self: &Arc<Self>, job: F) -> F::Output {
        CURRENT_JOB.scope(Arc::clone(self), job).await
    }

    fn record(&self) -> std::sync::MutexGuard<'_, JobRecord> {
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets a property of every document of this job (ids, request id, error type).
    pub fn property(&self, name: &str, value: impl Into<Value>) {
        self.record()
            .properties
            .insert(name.to_owned(), value.into());
    }

    /// Records one Feishu call to `path` (an endpoint path such as
    /// `/open-apis/approval/v4/external_instances`) that ended with `result` after `latency`.
    pub fn feishu_call(&self, path: &'static str, result: FeishuResult, latency: Duration) {
        self.record()
            .feishu_calls
            .entry((path, result))
            .or_default()
            .latencies
            .push(latency);
    }

    /// Records that the client retries a call to `path`.
    pub fn feishu_retry(&self, path: &'static str) {
        *self.record().feishu_retries.entry(path).or_default() += 1;
    }

    /// Records a tenant token refresh.
    pub fn token_refresh(&self) {
        self.record().token_refreshes += 1;
    }

    /// Records a conditional write that lost to a concurrent writer.
    pub fn store_conflict(&self) {
        self.record().store_conflicts += 1;
    }

    /// Records a published decision event.
    pub fn event_published(&self) {
        self.record().events_published += 1;
    }

    /// Records a decision job refused for want of a valid hand-off proof.
    pub fn unproven_decision(&self) {
        self.record().unproven_decisions += 1;
    }

    /// Records that a decision received at `received_at` (the callback's arrival) is now applied
    /// in Feishu.
    pub fn decision_applied(&self, received_at: UnixMillis) {
        let received = UNIX_EPOCH + Duration::from_millis(received_at.as_millis());
        let elapsed = SystemTime::now()
            .duration_since(received)
            .unwrap_or_default();
        self.record().tap_to_applied = Some(elapsed);
    }

    /// The job's documents: the job document, then one per (Feishu API, result) met, each
    /// carrying the job's properties. Latencies beyond [`MAX_VALUES_PER_METRIC`] per group go
    /// into further documents of that group.
    pub fn finish(&self, outcome: JobOutcome) -> Vec<EmfDocument> {
        use names::*;
        let duration = self.started.elapsed();
        let record = self.record();
        let properties = Arc::new(record.properties.clone());
        let with_properties = |document: EmfDocument| EmfDocument {
            properties: Arc::clone(&properties),
            ..document
        };
        let mut job_document = EmfDocument::new()
            .dimension(JOB_TYPE, self.job_type)
            .dimension(OUTCOME, outcome.as_str())
            .metrics(
                &[&[JOB_TYPE, OUTCOME], &[OUTCOME]],
                [Metric::count(JOBS, 1)],
            )
            .metrics(
                &[&[]],
                [
                    Metric::count(TOKEN_REFRESHES, record.token_refreshes),
                    Metric::count(STORE_CONFLICTS, record.store_conflicts),
                    Metric::count(EVENTS_PUBLISHED, record.events_published),
                ],
            )
            .metrics(&[&[JOB_TYPE]], [Metric::millis(JOB_DURATION, [duration])]);
        if record.unproven_decisions > 0 {
            job_document = job_document.metrics(
                &[&[]],
                [Metric::count(UNPROVEN_DECISIONS, record.unproven_decisions)],
            );
        }
        if let Some(elapsed) = record.tap_to_applied {
            job_document =
                job_document.metrics(&[&[]], [Metric::millis(TAP_TO_APPLIED, [elapsed])]);
        }
        let mut documents = vec![with_properties(job_document)];

        let mut retries = record.feishu_retries.clone();
        for ((path, result), calls) in &record.feishu_calls {
            let api = api_name(path);
            let api_retries = retries.remove(path).unwrap_or(0);
            let count = calls.latencies.len() as u64;
            let rejected = if result.is_success() { 0 } else { count };
            for (index, chunk) in calls.latencies.chunks(MAX_VALUES_PER_METRIC).enumerate() {
                let mut document = EmfDocument::new()
                    .dimension(API, api)
                    .dimension(CODE, result.to_string());
                if index == 0 {
                    document = document
                        .metrics(
                            &[&[API, CODE], &[CODE], &[]],
                            [Metric::count(FEISHU_CALLS, count)],
                        )
                        .metrics(
                            &[&[API], &[]],
                            [
                                Metric::count(FEISHU_REJECTED, rejected),
                                Metric::count(FEISHU_RETRIES, api_retries),
                            ],
                        );
                }
                document = document.metrics(
                    &[&[API]],
                    [Metric::millis(FEISHU_LATENCY, chunk.iter().copied())],
                );
                documents.push(with_properties(document));
            }
        }
        // Retries of a path whose calls were not recorded (a client that records retries only).
        for (path, count) in retries {
            let document = EmfDocument::new()
                .dimension(API, api_name(path))
                .metrics(&[&[API], &[]], [Metric::count(FEISHU_RETRIES, count)]);
            documents.push(with_properties(document));
        }
        documents
    }
}

/// The `Api` dimension value of an endpoint path.
fn api_name(path: &'static str) -> &'static str {
    path.strip_prefix("/open-apis/").unwrap_or(path)
}

/// Records a Feishu call into the current job's metrics (no-op outside [`JobMetrics::scope`]).
/// See [`JobMetrics::feishu_call`].
pub fn feishu_call(path: &'static str, result: FeishuResult, latency: Duration) {
    let _outside_a_job = CURRENT_JOB.try_with(|job| job.feishu_call(path, result, latency));
}

/// Records a retry decision into the current job's metrics (no-op outside a job).
pub fn feishu_retry(path: &'static str) {
    let _outside_a_job = CURRENT_JOB.try_with(|job| job.feishu_retry(path));
}

/// Records a tenant token refresh into the current job's metrics (no-op outside a job).
pub fn token_refresh() {
    let _outside_a_job = CURRENT_JOB.try_with(|job| job.token_refresh());
}

/// Records a lost conditional write into the current job's metrics (no-op outside a job).
pub fn store_conflict() {
    let _outside_a_job = CURRENT_JOB.try_with(|job| job.store_conflict());
}

/// Records a published decision event into the current job's metrics (no-op outside a job).
pub fn event_published() {
    let _outside_a_job = CURRENT_JOB.try_with(|job| job.event_published());
}

/// Records a decision job refused for want of a valid hand-off proof into the current job's
/// metrics (no-op outside a job).
pub fn unproven_decision() {
    let _outside_a_job = CURRENT_JOB.try_with(|job| job.unproven_decision());
}

/// Records that the decision received at `received_at` is applied in Feishu, into the current
/// job's metrics (no-op outside a job).
pub fn decision_applied(received_at: UnixMillis) {
    let _outside_a_job = CURRENT_JOB.try_with(|job| job.decision_applied(received_at));
}

/// Records every finished Feishu call of a client into the current job's metrics: attach it
/// once to the process's client with
/// [`FeishuClient::observed_by`](crate::client::FeishuClient::observed_by); calls outside a job
/// are not recorded.
#[derive(Debug, Default, Clone, Copy)]
pub struct CurrentJobObserver;

impl CallObserver for CurrentJobObserver {
    fn call_finished(&self, report: &CallReport) {
        let result = match (report.succeeded(), report.code, report.http_status) {
            (true, _, _) => FeishuResult::Code(0),
            (false, Some(code), _) => FeishuResult::Code(code),
            (false, None, Some(status)) => FeishuResult::HttpStatus(status),
            (false, None, None) => FeishuResult::Transport,
        };
        feishu_call(report.path, result, report.latency);
        for _ in 0..report.retries() {
            feishu_retry(report.path);
        }
        for _ in 0..report.token_refreshes {
            token_refresh();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use testkit::check_emf_document;

    use super::*;

    const SYNC_PATH: &str = "/open-apis/approval/v4/external_instances";
    const UPDATE_PATH: &str = "/open-apis/approval/v1/message/update";

    fn emitter() -> EmfEmitter {
        EmfEmitter::from_lookup(|_| None).unwrap()
    }

    /// The documents as written, one parsed JSON value per line, each checked against the spec.
    fn written(documents: &[EmfDocument]) -> Vec<Value> {
        let mut out = Vec::new();
        emitter().write(documents, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n'), "{text}");
        text.lines()
            .map(|line| {
                let document: Value = serde_json::from_str(line).unwrap();
                if let Err(problems) = check_emf_document(&document) {
                    panic!("not a valid EMF document: {problems:?}\n{line}");
                }
                document
            })
            .collect()
    }

    /// Every dimension name any directive of `document` aggregates over.
    fn dimension_names(document: &Value) -> Vec<String> {
        let mut names: Vec<String> = document["_aws"]["CloudWatchMetrics"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|directive| directive["Dimensions"].as_array().unwrap())
            .flat_map(|set| set.as_array().unwrap())
            .map(|name| name.as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn a_document_is_one_emf_line_with_dimensions_metrics_and_properties() {
        let document = EmfDocument::new()
            .dimension("Outcome", "accepted")
            .dimension("Outcome", "bad_token")
            .metrics(&[&["Outcome"], &[]], [Metric::count("Callbacks", 1)])
            .metrics(
                &[&[]],
                [Metric::millis("Latency", [Duration::from_micros(1_500)])],
            )
            .property("instance_id", "inst-1")
            .property("Outcome", "a property may not shadow a dimension")
            .optional_property("task_id", None::<&str>);
        let raw = emitter().render(std::slice::from_ref(&document), 1);
        let raw = String::from_utf8(raw).unwrap();
        assert_eq!(
            raw.matches("\"Outcome\":").count(),
            1,
            "no duplicate member: {raw}"
        );
        let [line] = written(&[document]).try_into().unwrap();
        assert_eq!(line["Outcome"], "bad_token", "the later value wins");
        assert_eq!(line["Callbacks"], 1.0);
        assert_eq!(line["Latency"], 1.5);
        assert_eq!(line["instance_id"], "inst-1");
        assert!(line.get("task_id").is_none());
        let directives = &line["_aws"]["CloudWatchMetrics"];
        assert_eq!(directives[0]["Namespace"], DEFAULT_NAMESPACE);
        assert_eq!(directives[0]["Dimensions"], json!([["Outcome"], []]));
        assert_eq!(
            directives[0]["Metrics"],
            json!([{"Name": "Callbacks", "Unit": "Count"}])
        );
        assert_eq!(
            directives[1]["Metrics"],
            json!([{"Name": "Latency", "Unit": "Milliseconds"}])
        );
    }

    #[test]
    fn the_namespace_comes_from_the_environment_and_is_checked() {
        let custom = EmfEmitter::from_lookup(|_| Some("Bridge/staging".to_owned())).unwrap();
        assert_eq!(custom.namespace().as_str(), "Bridge/staging");
        assert_eq!(emitter().namespace().as_str(), DEFAULT_NAMESPACE);
        for bad in ["", "AWS/Lambda", "has\"quote", &"x".repeat(256)] {
            let owned = bad.to_owned();
            assert_eq!(
                EmfEmitter::from_lookup(|_| Some(owned.clone())),
                Err(InvalidNamespace),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn nothing_is_written_for_no_documents() {
        let mut out = Vec::new();
        emitter().write(&[], &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_job_becomes_a_job_document_and_one_document_per_feishu_api_and_result() {
        let job = JobMetrics::start("decision");
        job.property("instance_id", "inst-1");
        job.property("task_id", "task-1");
        job.feishu_call(SYNC_PATH, FeishuResult::Code(0), Duration::from_millis(40));
        job.feishu_call(SYNC_PATH, FeishuResult::Code(0), Duration::from_millis(60));
        job.feishu_call(
            UPDATE_PATH,
            FeishuResult::HttpStatus(502),
            Duration::from_millis(5),
        );
        job.feishu_call(
            UPDATE_PATH,
            FeishuResult::Code(0),
            Duration::from_millis(30),
        );
        job.feishu_retry(UPDATE_PATH);
        job.token_refresh();
        job.store_conflict();
        job.event_published();
        job.decision_applied(UnixMillis::from_millis(
            UnixMillis::now().as_millis().saturating_sub(2_000),
        ));
        let lines = written(&job.finish(JobOutcome::Applied));
        assert_eq!(
            lines.len(),
            4,
            "job + sync/0 + update/0 + update/http_502: {lines:#?}"
        );

        let job_line = &lines[0];
        assert_eq!(job_line["JobType"], "decision");
        assert_eq!(job_line["Outcome"], "applied");
        assert_eq!(job_line["Jobs"], 1.0);
        assert_eq!(job_line["TokenRefreshes"], 1.0);
        assert_eq!(job_line["StoreConflicts"], 1.0);
        assert_eq!(job_line["EventsPublished"], 1.0);
        let tap_to_applied = job_line["TapToApplied"].as_f64().unwrap();
        assert!(
            (2_000.0..10_000.0).contains(&tap_to_applied),
            "{tap_to_applied}"
        );
        assert!(job_line["JobDuration"].as_f64().unwrap() >= 0.0);

        let feishu = |api: &str, code: &str| {
            lines
                .iter()
                .find(|line| line["Api"] == api && line["Code"] == code)
                .unwrap_or_else(|| panic!("no document for {api} {code}"))
        };
        let synced = feishu("approval/v4/external_instances", "0");
        assert_eq!(synced["FeishuCalls"], 2.0);
        assert_eq!(synced["FeishuRejected"], 0.0);
        assert_eq!(synced["FeishuRetries"], 0.0);
        assert_eq!(synced["FeishuLatency"], json!([40.0, 60.0]));
        let failed = feishu("approval/v1/message/update", "http_502");
        assert_eq!(failed["FeishuCalls"], 1.0);
        assert_eq!(failed["FeishuRejected"], 1.0);
        assert_eq!(failed["FeishuLatency"], 5.0);
        let updated = feishu("approval/v1/message/update", "0");
        assert_eq!(
            updated["FeishuRetries"].as_f64().unwrap() + failed["FeishuRetries"].as_f64().unwrap(),
            1.0,
            "retries are counted once per API, in one of its documents"
        );

        for line in &lines {
            assert_eq!(
                line["instance_id"], "inst-1",
                "every document has the job's ids"
            );
            assert_eq!(line["task_id"], "task-1");
            for name in dimension_names(line) {
                assert!(
                    ["JobType", "Outcome", "Api", "Code"].contains(&name.as_str()),
                    "{name} is not a low-cardinality dimension"
                );
            }
        }
    }

    #[test]
    fn the_quota_code_is_a_dimension_value_of_its_own() {
        let job = JobMetrics::start("instance");
        job.feishu_call(
            SYNC_PATH,
            FeishuResult::Code(99991403),
            Duration::from_millis(9),
        );
        job.feishu_call(SYNC_PATH, FeishuResult::Transport, Duration::from_millis(9));
        let lines = written(&job.finish(JobOutcome::Failed));
        let codes: Vec<&Value> = lines[1..].iter().map(|line| &line["Code"]).collect();
        assert_eq!(codes, [&json!("99991403"), &json!("transport")]);
        assert_eq!(lines[0]["Outcome"], "failed");
    }

    #[test]
    fn an_unproven_decision_is_counted_on_its_job_only() {
        let refused = JobMetrics::start("decision");
        refused.unproven_decision();
        let lines = written(&refused.finish(JobOutcome::Failed));
        assert_eq!(lines[0]["UnprovenDecisions"], 1.0);
        let directives = lines[0]["_aws"]["CloudWatchMetrics"].to_string();
        assert!(directives.contains("UnprovenDecisions"), "{directives}");
        let proven = JobMetrics::start("decision");
        let lines = written(&proven.finish(JobOutcome::Applied));
        assert!(lines[0].get("UnprovenDecisions").is_none());
    }

    #[test]
    fn more_latencies_than_one_metric_holds_spill_into_further_documents() {
        let job = JobMetrics::start("instance");
        for _ in 0..(MAX_VALUES_PER_METRIC + 1) {
            job.feishu_call(UPDATE_PATH, FeishuResult::Code(0), Duration::from_millis(1));
        }
        let lines = written(&job.finish(JobOutcome::Applied));
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1]["FeishuCalls"], 101.0);
        assert_eq!(lines[1]["FeishuLatency"].as_array().unwrap().len(), 100);
        assert!(
            lines[2].get("FeishuCalls").is_none(),
            "calls are counted once"
        );
        assert_eq!(lines[2]["FeishuLatency"], 1.0);
    }

    #[tokio::test]
    async fn the_client_and_the_job_steps_record_into_the_job_in_scope_and_nowhere_outside() {
        feishu_call(SYNC_PATH, FeishuResult::Code(0), Duration::ZERO);
        token_refresh();
        store_conflict();
        let job = JobMetrics::start("decision");
        job.scope(async {
            let (one, two) = tokio::join!(
                async { feishu_call(SYNC_PATH, FeishuResult::Code(0), Duration::ZERO) },
                async {
                    feishu_retry(UPDATE_PATH);
                    feishu_call(UPDATE_PATH, FeishuResult::Code(0), Duration::ZERO);
                    token_refresh();
                },
            );
            store_conflict();
            event_published();
            decision_applied(UnixMillis::now());
            (one, two)
        })
        .await;
        let other = JobMetrics::start("decision");
        let documents = job.finish(JobOutcome::Applied);
        assert_eq!(documents[0].metric_value("TokenRefreshes"), Some(1.0));
        assert_eq!(documents[0].metric_value("StoreConflicts"), Some(1.0));
        assert_eq!(documents[0].metric_value("EventsPublished"), Some(1.0));
        assert!(documents[0].metric_value("TapToApplied").is_some());
        assert_eq!(documents.len(), 3, "{documents:#?}");
        assert_eq!(
            documents[1].dimension_value("Api"),
            Some("approval/v1/message/update")
        );
        assert_eq!(documents[1].metric_value("FeishuRetries"), Some(1.0));
        assert_eq!(documents[2].metric_value("FeishuCalls"), Some(1.0));
        assert_eq!(other.finish(JobOutcome::Duplicate).len(), 1);
    }

    #[tokio::test]
    async fn the_client_observer_records_calls_retries_and_refreshes_into_the_current_job() {
        let report = |failure, code, http_status, attempts, token_refreshes| CallReport {
            path: SYNC_PATH,
            failure,
            code,
            http_status,
            log_id: None,
            attempts,
            rate_limited: 0,
            token_refreshes,
            paced: Duration::ZERO,
            latency: Duration::from_millis(80),
        };
        let job = JobMetrics::start("decision");
        job.scope(async {
            CurrentJobObserver.call_finished(&report(None, Some(0), Some(200), 3, 1));
            CurrentJobObserver.call_finished(&report(
                Some(crate::client::FailureKind::Api),
                Some(1390001),
                Some(400),
                1,
                0,
            ));
        })
        .await;
        let documents = job.finish(JobOutcome::Failed);
        assert_eq!(documents[0].metric_value("TokenRefreshes"), Some(1.0));
        let by_code = |code: &str| {
            documents
                .iter()
                .find(|document| document.dimension_value("Code") == Some(code))
                .and_then(|document| document.metric_value("FeishuCalls"))
        };
        assert_eq!(by_code("0"), Some(1.0));
        assert_eq!(by_code("1390001"), Some(1.0));
        let retries: f64 = documents
            .iter()
            .filter_map(|document| document.metric_value("FeishuRetries"))
            .sum();
        assert_eq!(retries, 2.0);
    }
}
