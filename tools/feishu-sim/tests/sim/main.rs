//! End-to-end tests of the simulator over HTTP, one module per concern.

mod admin;
mod cards;
mod check;
mod cli;
mod definitions;
mod faults;
mod helpers;
mod in_process;
mod instances;
mod messages;
mod rate_limits;
mod token;
