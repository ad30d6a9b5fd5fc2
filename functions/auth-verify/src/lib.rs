//! `auth-verify`: exchanges a passcode for a JWT (POST /auth/verify).

use axum::Router;
use axum::routing::post;
use helix_shared::{AppState, http};

/// The routes this function serves, as API Gateway sends them.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/auth/verify", post(http::not_implemented))
        .with_state(state)
}

/// The deployable application: the router plus Helix's tracing, limits and JSON errors.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    http::finish(router(state), &config.http)
}
