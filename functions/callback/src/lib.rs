//! `approval-callback`: the public endpoint Feishu calls when an approver taps Approve or Reject
//! (quick approval). It authenticates the callback, turns it into a typed decision, hands the
//! decision to the `approval-sync` function, and answers in the form Feishu reads.
//!
//! - [`event`]: the Lambda event (API Gateway HTTP API, payload 2.0) in, its response out;
//! - [`handler`]: the request handler, a plain async function over its dependencies;
//! - [`handoff`]: the hand-off port and its adapters (Lambda invoke, in-memory);
//! - [`lookup`]: the early look-up of a tap in the instance records (read-only), so a stale tap
//!   is answered 409;
//! - [`warm`]: the container's warm-up at init (credentials and connections, all at once);
//! - [`config`]: settings from the environment;
//! - [`metrics`]: one EMF metrics document per callback.

pub mod config;
pub mod event;
pub mod handler;
pub mod handoff;
pub mod lookup;
pub mod metrics;
pub mod warm;
