//! Shared library of the Feishu approval bridge: callback crypto and parsing, the Feishu API
//! models and client, credentials, and the sync job schema that every caller of the sync function
//! speaks.

// First, so `string_enum!` (declared in `models`) is in scope for the modules below.
#[macro_use]
pub mod models;

pub mod callback;
pub mod client;
pub mod clock;
pub mod crypto;
pub mod handoff;
pub mod ids;
pub mod job;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod redrive;
pub mod secrets;
pub mod store;
pub mod tap_context;
