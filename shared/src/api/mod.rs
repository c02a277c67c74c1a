//! The API of ../docs/API.md: one module per resource. Each handler parses its input into
//! domain types, makes one database call (one PostgREST round trip) and replies.
pub mod account;
pub mod billing;
pub mod credits;
pub mod docs;
pub(crate) mod models;
pub mod health;
pub mod machine_jobs;
pub mod machines;
pub mod metrics;
mod pages;
pub mod pricing;
pub mod projects;
pub mod runner;
pub mod teams;
pub mod ssh_keys;
pub mod secrets;
