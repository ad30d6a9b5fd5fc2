//! The `personas` table: a user's own system-prompt presets. Another user's persona is invisible:
//! every query is scoped by `user_id`, so "not yours" and "does not exist" are the same `None`.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor, PgPool};

use crate::personality::MemorySettings;

use crate::pagination::Cursor;

#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct PersonaRow {
    pub id: String,
    pub name: String,
    pub prompt: String,
    /// The S3 key of the avatar (the column predates S3 and is named `avatar_url`); never shown
    /// to clients, who get a short-lived presigned URL for it instead.
    #[sqlx(rename = "avatar_url")]
    pub avatar_key: Option<String>,
    /// Retrieval from memory for this persona's turns; `None` means off.
    pub memory: Option<Json<MemorySettings>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PersonaRow {
    /// Where the next page starts when this row is the last one shown.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id.clone(),
        }
    }
}

const PERSONA_COLUMNS: &str = "id, name, prompt, avatar_url, memory, created_at, updated_at";

pub async fn find_for_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
) -> Result<Option<PersonaRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PERSONA_COLUMNS} FROM personas WHERE id = $1 AND user_id = $2"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Whether the user owns the persona, keeping it from being deleted until `tx` ends: a write
/// that depends on the persona (a memory document) cannot be paid for and then find it gone.
pub async fn hold_for_user(
    tx: &mut sqlx::PgConnection,
    user_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM personas WHERE id = $1 AND user_id = $2 FOR KEY SHARE")
            .bind(id)
            .bind(user_id)
            .fetch_optional(tx)
            .await?;
    Ok(found.is_some())
}

/// The user's newest `limit` personas, newest first (`create` keeps a user at or under the
/// configured cap, which callers pass as the limit).
pub async fn list_for_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    limit: u32,
) -> Result<Vec<PersonaRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PERSONA_COLUMNS} FROM personas WHERE user_id = $1
         ORDER BY created_at DESC, id DESC
         LIMIT $2"
    )))
    .bind(user_id)
    .bind(i64::from(limit))
    .fetch_all(db)
    .await
}

/// Up to `limit` of the user's personas, newest first, starting after `after` (the last row of
/// the previous page). The row comparison matches `personas_user_created_idx`, so a page is an
/// index range scan however deep it is.
pub async fn list_page_for_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    after: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<PersonaRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PERSONA_COLUMNS} FROM personas
         WHERE user_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC
         LIMIT $4"
    )))
    .bind(user_id)
    .bind(after.map(|cursor| cursor.created_at))
    .bind(after.map(|cursor| cursor.id.as_str()))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Adds a persona unless the user already has `max_per_user`: `None` then. The user's row is
/// locked first, so concurrent creates count one after another and never pass the cap together.
pub async fn create(
    pool: &PgPool,
    user_id: &str,
    name: &str,
    prompt: &str,
    memory: Option<&MemorySettings>,
    max_per_user: u32,
) -> Result<Option<PersonaRow>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO personas (id, user_id, name, prompt, memory)
         SELECT $1, $2, $3, $4, $5
         WHERE (SELECT count(*) FROM personas WHERE user_id = $2) < $6
         RETURNING {PERSONA_COLUMNS}"
    )))
    .bind(crate::ids::new_id())
    .bind(user_id)
    .bind(name)
    .bind(prompt)
    .bind(memory.map(Json))
    .bind(i64::from(max_per_user))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Changes the name, prompt and/or memory settings (a `None` keeps the current value); `None`
/// when the user has no such persona.
pub async fn update(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
    name: Option<&str>,
    prompt: Option<&str>,
    memory: Option<&MemorySettings>,
) -> Result<Option<PersonaRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE personas SET name = COALESCE($3, name), prompt = COALESCE($4, prompt),
                             memory = COALESCE($5, memory)
         WHERE id = $1 AND user_id = $2
         RETURNING {PERSONA_COLUMNS}"
    )))
    .bind(id)
    .bind(user_id)
    .bind(name)
    .bind(prompt)
    .bind(memory.map(Json))
    .fetch_optional(db)
    .await
}

/// Deletes the persona and returns it as it was (its avatar key is the caller's to clean up);
/// `None` when the user has no such persona.
pub async fn delete(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
) -> Result<Option<PersonaRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "DELETE FROM personas WHERE id = $1 AND user_id = $2 RETURNING {PERSONA_COLUMNS}"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// The avatar key a persona had before [`replace_avatar_key`] set a new one.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ReplacedAvatar {
    pub previous_key: Option<String>,
}

/// Points the persona at a new avatar key and returns the key it replaces, in one statement so
/// two concurrent uploads cannot both miss the object the other orphaned; `None` when the user
/// has no such persona.
pub async fn replace_avatar_key(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
    key: &str,
) -> Result<Option<ReplacedAvatar>, sqlx::Error> {
    sqlx::query_as(
        "WITH previous AS (
             SELECT id, avatar_url FROM personas WHERE id = $1 AND user_id = $2 FOR UPDATE
         )
         UPDATE personas SET avatar_url = $3 FROM previous WHERE personas.id = previous.id
         RETURNING previous.avatar_url AS previous_key",
    )
    .bind(id)
    .bind(user_id)
    .bind(key)
    .fetch_optional(db)
    .await
}
