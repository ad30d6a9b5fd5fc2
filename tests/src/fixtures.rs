//! What a test starts from: a signed-in user, an agent, memory's vector column, an avatar image.

use helix_shared::AppState;
use sqlx::PgPool;

/// A signed-in user for handler tests: created in `state`'s database, with a valid token.
pub async fn signed_in_user(
    state: &AppState,
    email: &str,
) -> (helix_shared::db::users::User, String) {
    let mut db = state.db.acquire().await.unwrap();
    let (user, _) =
        helix_shared::db::users::ensure_user(&mut db, email, helix_shared::user::UserRole::User)
            .await
            .unwrap();
    let token = state
        .tokens
        .issue(&user.id, chrono::Utc::now().timestamp())
        .unwrap()
        .token;
    (user, token)
}

/// Sizes memory's vector column for `state`'s embedding model, as `helix-admin migrate` does
/// after the migrations (`#[sqlx::test]` runs only the migrations).
pub async fn prepare_memory(state: &AppState) {
    helix_shared::memory::schema::prepare(&state.db, &state.config.embeddings)
        .await
        .unwrap();
}

/// Gives the user an agent for `provider`/`model` with `status` (`active` or `disabled`).
pub async fn add_agent(
    pool: &PgPool,
    user_id: &str,
    provider: &str,
    model: &str,
    status: &str,
) -> String {
    let id = helix_shared::ids::new_id();
    sqlx::query(
        "INSERT INTO agents (id, user_id, provider, model, status)
         VALUES ($1, $2, $3::engine_provider, $4, $5::agent_status)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(provider)
    .bind(model)
    .bind(status)
    .execute(pool)
    .await
    .unwrap();
    id
}

/// A 1×1 transparent PNG.
pub const AVATAR_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];
