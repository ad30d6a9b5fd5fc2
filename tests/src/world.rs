//! One user signed in to the whole API (every function's router, as the local gateway serves it)
//! over a test's own database: what handler tests arrange before they act.

use axum::Router;
use helix_shared::AppState;
use helix_shared::budget::ledger;
use helix_shared::db::users::User;
use sqlx::PgPool;

use crate::fixtures::signed_in_user;

pub struct World<P = ()> {
    pub app: Router,
    pub state: AppState,
    pub pool: PgPool,
    /// The fake provider the state's engines were pointed at; `()` in a world that calls none.
    pub provider: P,
    pub user: User,
    pub token: String,
}

impl World {
    /// `email` signed in on `state`.
    pub async fn new(state: AppState, email: &str) -> Self {
        World::with_provider(state, email, ()).await
    }
}

impl<P> World<P> {
    /// `email` signed in on `state`, whose engines talk to `provider`.
    pub async fn with_provider(state: AppState, email: &str, provider: P) -> Self {
        let (user, token) = signed_in_user(&state, email).await;
        World {
            app: local_gateway::app(state.clone()),
            pool: state.db.clone(),
            state,
            provider,
            user,
            token,
        }
    }

    /// Grants the user `micros` of budget.
    pub async fn fund(&self, micros: i64) {
        ledger::grant(&self.pool, &self.user.id, micros, "test grant", None)
            .await
            .unwrap();
    }
}
