//! The sync function's jobs end to end: wiremock as Feishu, the in-memory instance store and a
//! recording decision publisher.

mod decision;
mod expiry;
mod helpers;
mod instance;
mod lifecycle;
mod reconcile;
mod repeated_sends;
mod simulated;
mod two_writers;
