//! Helix's system tests, one binary with a module per area: each test gets its own freshly
//! migrated database (`#[sqlx::test]`), providers are local fake servers, AWS is moto on loopback,
//! and the in-process models are the real ones. The fixtures are the helix-tests library (tests/src).
//! Tests run side by side in one process: logs are captured with `helix_tests::capture_logs` (never
//! a subscriber of the test's own), and no test changes the environment or other process state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod agents;
mod auth;
mod bad_input;
mod budget;
mod budget_policy;
mod conversations;
mod db_pool;
mod dev_s3;
mod embedders;
mod engine_contract;
mod engine_streams;
mod gateway;
mod local_models;
mod local_server;
mod local_turns;
mod logging;
mod memory;
mod memory_turns;
mod migrate;
mod money_paths;
mod openai_compat;
mod openapi;
mod personas;
mod reconcile;
mod schema;
mod secrets;
mod seed;
mod sessions;
mod turn_streams;
mod turns;
mod xray;
