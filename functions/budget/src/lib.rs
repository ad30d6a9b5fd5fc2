//! `budget`: the caller's balance and ledger (GET /v1/budget) and admin grants
//! (POST /v1/budget/grants).

use axum::Router;
use axum::routing::{get, post};
use helix_shared::{AppState, http};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/budget", get(http::not_implemented))
        .route("/v1/budget/grants", post(http::not_implemented))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}
