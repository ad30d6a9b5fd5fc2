//! The budget: pure money rules (`rules`) and their Postgres ledger (`ledger`). Every charge is
//! reserved before a provider call and settled after it, so no call can spend money that is not there.

pub mod account;
pub mod alerts;
pub mod ledger;
pub mod period;
pub mod policy;
pub mod reconcile;
pub mod refill;
pub mod rules;
pub mod usage;
