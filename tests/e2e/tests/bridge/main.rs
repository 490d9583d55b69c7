//! End-to-end tests of the bridge: the real `approval-callback` and `approval-sync` binaries
//! under `cargo lambda watch`, Feishu simulated, Lambda's asynchronous invoke emulated by
//! `lambda-async`, and DynamoDB, EventBridge and SQS in moto (see [`stack`]).
//!
//! The function binaries are built once per run, before the first test starts watch.

mod approval;
mod bad_input;
mod burst;
mod contract;
mod countersign;
mod faults;
mod reconcile;
mod redrive;
mod stack;
mod stale_tap;
mod trust;
