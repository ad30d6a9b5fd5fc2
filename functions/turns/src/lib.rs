//! `turns`: one conversational turn through a persona and an engine, charged to the user's budget
//! (POST /v1/turns), and the personality picker (GET /v1/personalities).

use axum::Router;
use axum::routing::{get, post};
use helix_shared::{AppState, http};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/turns", post(http::not_implemented))
        .route("/v1/personalities", get(http::not_implemented))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}
