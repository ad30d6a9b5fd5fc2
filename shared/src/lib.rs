//! helix-shared: the library every Helix Lambda (and the local gateway) is built from.
//! Functions stay thin wiring; configuration, errors, telemetry and storage live here.

pub mod auth;
pub mod avatars;
pub mod budget;
pub mod config;
pub mod db;
pub mod embedding;
pub mod engine;
pub mod error;
pub mod http;
pub mod ids;
pub mod memory;
pub mod orchestrator;
pub mod pagination;
pub mod personality;
pub mod pricing;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tools;
pub mod xray;

pub use error::ApiError;
pub use state::AppState;
