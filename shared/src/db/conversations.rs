//! The `conversations` and `conversation_messages` tables: a user's stored chats, their message
//! trees, full-text search over titles and messages. Every query names the owner, so another
//! user's conversation is never found.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};

use crate::chat::ToolCall;
use crate::pagination::Cursor;

/// A conversation as its owner sees it in a list or on its page.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Conversation {
    pub id: String,
    pub title: String,
    pub personality_id: String,
    pub engine: String,
    pub model: String,
    pub pinned: bool,
    pub archived: bool,
    pub current_message_id: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub message_count: i64,
    pub last_message_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "c.id, c.title, c.personality_id, c.engine::text AS engine, c.model, c.pinned,
    c.archived, c.current_message_id, c.input_tokens, c.output_tokens, c.cost_micros,
    (SELECT count(*) FROM conversation_messages m WHERE m.conversation_id = c.id) AS message_count,
    c.last_message_at, c.created_at, c.updated_at";

/// One stored message.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct StoredMessage {
    pub id: String,
    pub parent_id: Option<String>,
    pub role: String,
    pub content: String,
    pub tool_calls: Json<Vec<ToolCall>>,
    pub tool_call_id: Option<String>,
    pub status: String,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_micros: i64,
    pub ledger_id: Option<String>,
    pub trace_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

const MESSAGE_COLUMNS: &str = "id, parent_id, role, content, tool_calls, tool_call_id, status,
    input_tokens, output_tokens, cost_micros, ledger_id, trace_id, created_at";

pub async fn find(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
) -> Result<Option<Conversation>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM conversations c WHERE c.user_id = $1 AND c.id = $2"
    )))
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Every message of a conversation (all versions), oldest first.
pub async fn messages(
    db: impl PgExecutor<'_>,
    user_id: &str,
    conversation_id: &str,
) -> Result<Vec<StoredMessage>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM conversation_messages
         WHERE user_id = $1 AND conversation_id = $2
         ORDER BY created_at, id"
    )))
    .bind(user_id)
    .bind(conversation_id)
    .fetch_all(db)
    .await
}

/// Which conversations a list shows.
#[derive(Debug, Clone)]
pub struct ListQuery<'a> {
    pub archived: bool,
    /// Words to search for in titles and messages (Postgres `websearch_to_tsquery` syntax).
    pub search: Option<&'a str>,
    /// The last row of the previous page: its pinned flag, activity time and id.
    pub after: Option<(bool, Cursor)>,
    /// Rows to fetch (the page size plus one, to know whether there is more).
    pub fetch: i64,
}

/// A listed conversation, with a snippet of the best match when searching.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Listed {
    #[sqlx(flatten)]
    pub conversation: Conversation,
    pub snippet: Option<String>,
}

/// Pinned first, then most recently active first; with a search, only conversations whose title
/// or any message matches, and a snippet of the match (a message's, else the title's).
pub async fn list(
    db: impl PgExecutor<'_>,
    user_id: &str,
    query: &ListQuery<'_>,
) -> Result<Vec<Listed>, sqlx::Error> {
    let (pinned, at, id) = match &query.after {
        Some((pinned, cursor)) => (
            Some(*pinned),
            Some(cursor.created_at),
            Some(cursor.id.as_str()),
        ),
        None => (None, None, None),
    };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH q AS (SELECT CASE WHEN $3::text IS NULL THEN NULL
                                ELSE websearch_to_tsquery('english', $3) END AS query)
         SELECT {COLUMNS},
                CASE WHEN q.query IS NULL THEN NULL ELSE COALESCE(
                    (SELECT ts_headline('english', m.content, q.query,
                                        'MaxWords=18, MinWords=6, StartSel=«, StopSel=»')
                     FROM conversation_messages m
                     WHERE m.conversation_id = c.id AND m.content_search @@ q.query
                     ORDER BY m.created_at DESC LIMIT 1),
                    ts_headline('english', c.title, q.query, 'StartSel=«, StopSel=»'))
                END AS snippet
         FROM conversations c, q
         WHERE c.user_id = $1 AND c.archived = $2
           AND (q.query IS NULL
                OR c.title_search @@ q.query
                OR EXISTS (SELECT 1 FROM conversation_messages m
                           WHERE m.conversation_id = c.id AND m.user_id = $1
                             AND m.content_search @@ q.query))
           AND ($4::boolean IS NULL OR (c.pinned, c.last_message_at, c.id) < ($4, $5, $6))
         ORDER BY c.pinned DESC, c.last_message_at DESC, c.id DESC
         LIMIT $7"
    )))
    .bind(user_id)
    .bind(query.archived)
    .bind(query.search)
    .bind(pinned)
    .bind(at)
    .bind(id)
    .bind(query.fetch)
    .fetch_all(db)
    .await
}

/// A change a person asked for; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub title: Option<&'a str>,
    pub pinned: Option<bool>,
    pub archived: Option<bool>,
    /// A message of the conversation to make current (switching versions).
    pub current_message_id: Option<&'a str>,
}

/// Applies the change; `false` when the user has no such conversation.
pub async fn update(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
    change: &Change<'_>,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE conversations
         SET title = COALESCE($3, title), pinned = COALESCE($4, pinned),
             archived = COALESCE($5, archived),
             current_message_id = COALESCE($6, current_message_id)
         WHERE user_id = $1 AND id = $2",
    )
    .bind(user_id)
    .bind(id)
    .bind(change.title)
    .bind(change.pinned)
    .bind(change.archived)
    .bind(change.current_message_id)
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Deletes the conversation and its messages; the ledger rows that charged them stay.
pub async fn delete(db: impl PgExecutor<'_>, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM conversations WHERE user_id = $1 AND id = $2")
        .bind(user_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// A conversation started by a saved turn.
#[derive(Debug, Clone)]
pub struct NewConversation<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub title: &'a str,
    pub personality_id: &'a str,
    pub engine: &'a str,
    pub model: &'a str,
}

pub async fn create(db: impl PgExecutor<'_>, new: &NewConversation<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO conversations (id, user_id, title, personality_id, engine, model)
         VALUES ($1, $2, $3, $4, $5::engine_provider, $6)",
    )
    .bind(new.id)
    .bind(new.user_id)
    .bind(new.title)
    .bind(new.personality_id)
    .bind(new.engine)
    .bind(new.model)
    .execute(db)
    .await?;
    Ok(())
}

/// Locks the conversation for the rest of the transaction (turns on one conversation store their
/// answers one after the other); `false` when it is gone (deleted while the turn ran).
pub async fn lock(db: impl PgExecutor<'_>, user_id: &str, id: &str) -> Result<bool, sqlx::Error> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT id FROM conversations WHERE user_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub id: &'a str,
    pub conversation_id: &'a str,
    pub user_id: &'a str,
    pub parent_id: Option<&'a str>,
    pub role: &'a str,
    pub content: &'a str,
    pub tool_calls: &'a [ToolCall],
    pub tool_call_id: Option<&'a str>,
    pub status: &'a str,
    /// For an answer: what it used and cost, and the ledger row that charged it.
    pub charge: Option<MessageCharge<'a>>,
    pub trace_id: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub struct MessageCharge<'a> {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub ledger_id: &'a str,
}

pub async fn insert_message(
    db: impl PgExecutor<'_>,
    new: &NewMessage<'_>,
) -> Result<(), sqlx::Error> {
    let charge = new.charge.as_ref();
    sqlx::query(
        "INSERT INTO conversation_messages (id, conversation_id, user_id, parent_id, role, content,
             tool_calls, tool_call_id, status, input_tokens, output_tokens, cost_micros, ledger_id,
             trace_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(new.id)
    .bind(new.conversation_id)
    .bind(new.user_id)
    .bind(new.parent_id)
    .bind(new.role)
    .bind(new.content)
    .bind(Json(new.tool_calls))
    .bind(new.tool_call_id)
    .bind(new.status)
    .bind(charge.map(|c| c.input_tokens))
    .bind(charge.map(|c| c.output_tokens))
    .bind(charge.map_or(0, |c| c.cost_micros))
    .bind(charge.map(|c| c.ledger_id))
    .bind(new.trace_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Makes `leaf` the conversation's current message, adds an answer's usage and cost to its
/// totals, and remembers the personality, engine and model the conversation continues with.
pub async fn advance(
    db: impl PgExecutor<'_>,
    user_id: &str,
    id: &str,
    leaf: &str,
    charge: MessageCharge<'_>,
    (personality_id, engine, model): (&str, &str, &str),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE conversations
         SET current_message_id = $3, input_tokens = input_tokens + $4,
             output_tokens = output_tokens + $5, cost_micros = cost_micros + $6,
             personality_id = $7, engine = $8::engine_provider, model = $9,
             last_message_at = now()
         WHERE user_id = $1 AND id = $2",
    )
    .bind(user_id)
    .bind(id)
    .bind(leaf)
    .bind(charge.input_tokens)
    .bind(charge.output_tokens)
    .bind(charge.cost_micros)
    .bind(personality_id)
    .bind(engine)
    .bind(model)
    .execute(db)
    .await?;
    Ok(())
}

/// How many messages the conversation holds, every version counted.
pub async fn message_count(
    db: impl PgExecutor<'_>,
    conversation_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM conversation_messages WHERE conversation_id = $1")
        .bind(conversation_id)
        .fetch_one(db)
        .await
}
