//! `personas`: the caller's own system-prompt presets, with avatars (/v1/personas).

use axum::Router;
use axum::routing::{get, post};
use helix_shared::{AppState, http};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/v1/personas",
            get(http::not_implemented).post(http::not_implemented),
        )
        .route(
            "/v1/personas/{id}",
            get(http::not_implemented)
                .patch(http::not_implemented)
                .delete(http::not_implemented),
        )
        .route("/v1/personas/{id}/avatar", post(http::not_implemented))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}
