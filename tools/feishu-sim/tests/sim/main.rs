//! End-to-end tests of the simulator over HTTP, one module per concern.

mod admin;
mod check;
mod cli;
mod definitions;
mod faults;
mod helpers;
mod instances;
mod messages;
mod token;
