//! The approval sync function: applies decision, instance and message jobs to Feishu.

pub mod events;
pub mod store;
