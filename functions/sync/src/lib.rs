//! The approval sync function: applies decision, instance and message jobs to Feishu, keeps the
//! records of every instance (the company's instance as the base, one record per decision), and
//! publishes events.
//!
//! [`handle_job`] runs one [`SyncJob`](feishu_bridge::job::SyncJob) (parsed from the invocation
//! payload by [`parse_job`]) against a [`SyncService`]: a Feishu client, an
//! [`InstanceStore`](feishu_bridge::store::InstanceStore) and an [`EventPublisher`]. What a job
//! means is planned by the pure [`plan`] module against the approval lifecycle
//! ([`feishu_bridge::lifecycle`]); [`effects`] carries it out. A job returns a [`SyncSummary`]
//! or fails with a [`SyncError`] whose Lambda error type says why.

pub mod cards;
pub mod config;
pub mod decision_job;
mod effects;
pub mod error;
pub mod events;
pub mod handler;
mod instance_job;
mod message_job;
pub mod plan;
mod reconcile_job;
pub mod service;
pub mod summary;

pub use config::{
    Config, ConfigError, FeishuCalls, InstanceStatusPolicy, ReconcileSettings, SyncSettings,
};
pub use error::SyncError;
pub use events::EventPublisher;
pub use handler::{
    handle_job, job_deadlines, job_outcome, job_properties, job_type, parse_job, remaining_time,
};
pub use service::SyncService;
pub use summary::SyncSummary;
