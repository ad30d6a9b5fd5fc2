//! `agents`: which engines and models the caller may use, and whether each is active (/v1/agents).

use axum::Router;
use axum::routing::{get, patch};
use helix_shared::{AppState, http};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/agents",
            get(http::not_implemented).post(http::not_implemented),
        )
        .route(
            "/v1/agents/{id}",
            patch(http::not_implemented).delete(http::not_implemented),
        )
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}
