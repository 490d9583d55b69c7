//! The approval sync function: applies decision, instance and message jobs to Feishu, keeps a
//! snapshot of every instance it pushed, and publishes decision events.
//!
//! [`handle_job`] runs one [`SyncJob`](feishu_bridge::job::SyncJob) (parsed from the invocation
//! payload by [`parse_job`]) against a [`SyncService`]: a Feishu client, a [`SnapshotStore`]
//! and a [`DecisionPublisher`]. It returns a [`SyncSummary`] or fails with a [`SyncError`] whose
//! Lambda error type says why.

pub mod apply;
pub mod cards;
pub mod config;
pub mod decision;
pub mod error;
pub mod events;
pub mod handler;
mod instance_job;
pub mod store;
pub mod summary;

pub use config::{Config, ConfigError, InstanceStatusPolicy, SyncSettings};
pub use error::SyncError;
pub use events::DecisionPublisher;
pub use handler::{SyncService, handle_job, parse_job};
pub use store::SnapshotStore;
pub use summary::SyncSummary;
