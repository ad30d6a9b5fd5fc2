//! helix-shared: the library every Helix Lambda (and the local gateway) is built from.
//! Functions stay thin wiring; the modules below are grouped by layer, and arrows point down only:
//! a module uses its own layer or a lower one (`scripts/check-layers` enforces it in `make test`;
//! `docs/architecture.md` draws it).

// Vocabulary: plain types every layer speaks. No I/O.
pub mod chat;
pub mod ids;
pub mod money;
pub mod pagination;
pub mod provider;
pub mod settings;
pub mod usage;
pub mod user;

// Domain: the rules, free of HTTP, AWS and the database (`budget::rules`, `memory::chunking`,
// the engine and embedder traits, each subsystem's `settings`).
pub mod conversation;
pub mod orchestrator;
pub mod personality;
pub mod pricing;
pub mod tools;

// Adapters: providers, Postgres, AWS (`engine::*`, `embedding::*`, `budget::ledger`,
// `memory::store`, `auth::throttle`, …) and the modules that are adapters through and through.
pub mod avatars;
pub mod budget;
pub mod db;
pub mod embedding;
pub mod engine;
pub mod memory;
pub mod secrets;
pub mod telemetry;
pub mod xray;

// App: configuration, HTTP, state, startup and the metered-call pipeline.
pub mod auth;
pub mod config;
pub mod error;
pub mod http;
pub mod pipeline;
pub mod startup;
pub mod state;

pub use error::ApiError;
pub use state::AppState;
