//! `conversations`: the caller's stored chats (/v1/conversations): the sidebar's list (pinned
//! first, newest first, searchable), one conversation with its messages and their versions,
//! rename / pin / archive / switch version, delete, and export as Markdown or JSON.
//! Turns are stored by `POST /v1/turns` (with `conversation_id` or `"save": true`), not here.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use helix_shared::auth::AuthUser;
use helix_shared::chat::ToolCall;
use helix_shared::conversation::{parse_title, tree};
use helix_shared::db::conversations::{
    self as store, Change, Conversation, ListQuery, StoredMessage,
};
use helix_shared::http::{ApiJson, ApiPath, ApiQuery};
use helix_shared::money::cost_cents;
use helix_shared::pagination::{self, Cursor, PageError};
use helix_shared::{ApiError, AppState, http};
use serde::{Deserialize, Serialize};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/conversations", get(list_conversations))
        .route(
            "/v1/conversations/{id}",
            get(get_conversation)
                .patch(update_conversation)
                .delete(delete_conversation),
        )
        .route("/v1/conversations/{id}/export", get(export_conversation))
        .with_state(state)
}

/// The deployable application: the router plus Helix's auth guard, tracing, limits and errors.
pub fn app(state: AppState) -> Router {
    http::finish(router(state.clone()), &state)
}

/// The longest search a list takes, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub cursor: Option<String>,
    /// Words to find in titles and messages.
    #[serde(default)]
    pub q: Option<String>,
    /// `true`: the archived conversations instead of the others.
    #[serde(default)]
    pub archived: Option<bool>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct UsageView {
    pub input_tokens: i64,
    pub output_tokens: i64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct CostView {
    pub micros: i64,
    pub cents: i64,
}

impl CostView {
    fn of(micros: i64) -> Self {
        CostView {
            micros,
            cents: cost_cents(micros),
        }
    }
}

/// A conversation as lists and pages show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConversationView {
    pub id: String,
    pub title: String,
    pub personality_id: String,
    pub engine: String,
    pub model: String,
    pub pinned: bool,
    pub archived: bool,
    pub current_message_id: Option<String>,
    pub message_count: i64,
    pub usage: UsageView,
    /// What every answer of the conversation cost, every version counted.
    pub cost: CostView,
    pub last_message_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Conversation> for ConversationView {
    fn from(c: Conversation) -> Self {
        ConversationView {
            id: c.id,
            title: c.title,
            personality_id: c.personality_id,
            engine: c.engine,
            model: c.model,
            pinned: c.pinned,
            archived: c.archived,
            current_message_id: c.current_message_id,
            message_count: c.message_count,
            usage: UsageView {
                input_tokens: c.input_tokens,
                output_tokens: c.output_tokens,
            },
            cost: CostView::of(c.cost_micros),
            last_message_at: c.last_message_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListedView {
    #[serde(flatten)]
    pub conversation: ConversationView,
    /// With `q`: the best match, the matched words between « and ».
    pub snippet: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ListResponse {
    pub conversations: Vec<ListedView>,
    pub next_cursor: Option<String>,
}

/// One message of the active branch, with its versions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageView {
    pub id: String,
    pub parent_id: Option<String>,
    pub role: String,
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    /// complete, stopped (the person stopped it) or failed (the provider broke off).
    pub status: String,
    /// An answer's usage; `null` on the person's messages and tool results.
    pub usage: Option<UsageView>,
    /// What this version cost (0 for anything but an answer).
    pub cost: CostView,
    pub trace_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Every version of this message (its siblings under the same parent), oldest first; this one
    /// is at `version` (from 1).
    pub versions: Vec<String>,
    pub version: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: ConversationView,
    /// The active branch, first message first.
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConversation {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub pinned: Option<bool>,
    #[serde(default)]
    pub archived: Option<bool>,
    /// Switch to this version of a message: the conversation continues at its newest branch.
    #[serde(default)]
    pub active_message_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    #[serde(default)]
    pub format: Option<ExportFormat>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Markdown,
    Json,
}

/// A cursor's id carries the row's pinned flag too: the list is ordered by it first.
fn cursor_of(listed: &store::Listed) -> Cursor {
    let c = &listed.conversation;
    Cursor {
        created_at: c.last_message_at,
        id: format!("{}{}", if c.pinned { 'p' } else { 'u' }, c.id),
    }
}

fn after(cursor: Cursor) -> Result<(bool, Cursor), PageError> {
    let mut chars = cursor.id.chars();
    let pinned = match chars.next() {
        Some('p') => true,
        Some('u') => false,
        _ => return Err(PageError::Cursor),
    };
    let id = chars.as_str().to_owned();
    if id.is_empty() {
        return Err(PageError::Cursor);
    }
    Ok((
        pinned,
        Cursor {
            created_at: cursor.created_at,
            id,
        },
    ))
}

async fn list_conversations(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<ListResponse>, ApiError> {
    let limit = pagination::limit(params.limit)?;
    let after = params
        .cursor
        .as_deref()
        .map(Cursor::decode)
        .transpose()?
        .map(after)
        .transpose()?;
    let search = params.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if search.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(ApiError::bad_request(format!(
            "q: must be at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let query = ListQuery {
        archived: params.archived.unwrap_or(false),
        search,
        after,
        fetch: limit + 1,
    };
    let rows = store::list(&state.db, &user.id, &query).await?;
    let (rows, next_cursor) = pagination::page(rows, limit, cursor_of);
    Ok(Json(ListResponse {
        conversations: rows
            .into_iter()
            .map(|row| ListedView {
                conversation: row.conversation.into(),
                snippet: row.snippet,
            })
            .collect(),
        next_cursor,
    }))
}

fn not_found() -> ApiError {
    ApiError::NotFound {
        resource: "conversation",
    }
}

/// Ids Helix makes: anything else names nothing (a 404, as an unknown id is).
fn is_id(id: &str) -> bool {
    (8..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

async fn load(state: &AppState, user: &AuthUser, id: &str) -> Result<ConversationDetail, ApiError> {
    if !is_id(id) {
        return Err(not_found());
    }
    let conversation = store::find(&state.db, &user.id, id)
        .await?
        .ok_or_else(not_found)?;
    let stored = store::messages(&state.db, &user.id, id).await?;
    let messages = active_branch(&stored, conversation.current_message_id.as_deref());
    Ok(ConversationDetail {
        conversation: conversation.into(),
        messages,
    })
}

/// The messages from the first to the current one, each with its versions.
fn active_branch(stored: &[StoredMessage], current: Option<&str>) -> Vec<MessageView> {
    let nodes: Vec<tree::Node<'_>> = stored
        .iter()
        .map(|m| tree::Node {
            id: &m.id,
            parent_id: m.parent_id.as_deref(),
        })
        .collect();
    tree::branch(&nodes, current)
        .into_iter()
        .map(|at| {
            let m = &stored[at];
            let versions: Vec<String> = tree::siblings(&nodes, at)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let version = versions
                .iter()
                .position(|v| *v == m.id)
                .map_or(1, |i| i + 1);
            MessageView {
                id: m.id.clone(),
                parent_id: m.parent_id.clone(),
                role: m.role.clone(),
                content: m.content.clone(),
                tool_calls: m.tool_calls.0.clone(),
                tool_call_id: m.tool_call_id.clone(),
                status: m.status.clone(),
                usage: m
                    .input_tokens
                    .zip(m.output_tokens)
                    .map(|(input_tokens, output_tokens)| UsageView {
                        input_tokens,
                        output_tokens,
                    }),
                cost: CostView::of(m.cost_micros),
                trace_id: m.trace_id.clone(),
                created_at: m.created_at,
                versions,
                version,
            }
        })
        .collect()
}

async fn get_conversation(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConversationDetail>, ApiError> {
    Ok(Json(load(&state, &user, &id).await?))
}

async fn update_conversation(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateConversation>,
) -> Result<Json<ConversationDetail>, ApiError> {
    if request.title.is_none()
        && request.pinned.is_none()
        && request.archived.is_none()
        && request.active_message_id.is_none()
    {
        return Err(ApiError::bad_request(
            "body: give a title, pinned, archived or active_message_id",
        ));
    }
    let title = request
        .title
        .as_deref()
        .map(parse_title)
        .transpose()
        .map_err(ApiError::bad_request)?;
    if !is_id(&id) {
        return Err(not_found());
    }
    let mut tx = state.db.begin().await?;
    if !store::lock(&mut *tx, &user.id, &id).await? {
        return Err(not_found());
    }
    let current = match &request.active_message_id {
        Some(message_id) => {
            let stored = store::messages(&mut *tx, &user.id, &id).await?;
            let nodes: Vec<tree::Node<'_>> = stored
                .iter()
                .map(|m| tree::Node {
                    id: &m.id,
                    parent_id: m.parent_id.as_deref(),
                })
                .collect();
            let Some(chosen) = nodes.iter().find(|n| n.id == message_id.as_str()) else {
                return Err(ApiError::bad_request(
                    "active_message_id: not a message of this conversation",
                ));
            };
            Some(tree::newest_leaf(&nodes, chosen.id).to_owned())
        }
        None => None,
    };
    let change = Change {
        title: title.as_deref(),
        pinned: request.pinned,
        archived: request.archived,
        current_message_id: current.as_deref(),
    };
    store::update(&mut *tx, &user.id, &id, &change).await?;
    tx.commit().await?;
    tracing::info!(conversation_id = %id, "conversation updated");
    Ok(Json(load(&state, &user, &id).await?))
}

async fn delete_conversation(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if is_id(&id) && store::delete(&state.db, &user.id, &id).await? {
        tracing::info!(conversation_id = %id, "conversation deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

/// The active branch as a download: Markdown (a heading per message) or the JSON of
/// `GET /v1/conversations/{id}`.
async fn export_conversation(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let format = params.format.unwrap_or(ExportFormat::Markdown);
    let detail = load(&state, &user, &id).await?;
    let (body, content_type, extension) = match format {
        ExportFormat::Markdown => (markdown(&detail), "text/markdown; charset=utf-8", "md"),
        ExportFormat::Json => (
            serde_json::to_string_pretty(&detail).map_err(ApiError::internal)?,
            "application/json",
            "json",
        ),
    };
    let disposition = format!(
        "attachment; filename=\"conversation-{}.{extension}\"",
        detail.conversation.id
    );
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The conversation as Markdown: its title, then each message under its author's heading, an
/// answer with what it cost.
pub fn markdown(detail: &ConversationDetail) -> String {
    let c = &detail.conversation;
    let mut out = format!(
        "# {}\n\n_{} · {} · {} · ${:.6}_\n",
        c.title.replace('\n', " "),
        c.personality_id,
        c.engine,
        c.model,
        c.cost.micros as f64 / 1_000_000.0
    );
    for m in &detail.messages {
        let heading = match m.role.as_str() {
            "user" => "You".to_owned(),
            "assistant" => "Assistant".to_owned(),
            "tool" => format!("Tool result ({})", m.tool_call_id.as_deref().unwrap_or("?")),
            other => other.to_owned(),
        };
        out.push_str(&format!("\n## {heading}\n\n{}\n", m.content.trim_end()));
        for call in &m.tool_calls {
            out.push_str(&format!(
                "\n> tool call `{}` ({}): `{}`\n",
                call.name, call.id, call.arguments
            ));
        }
        if m.role == "assistant" {
            let status = if m.status == "complete" {
                String::new()
            } else {
                format!(" · {}", m.status)
            };
            out.push_str(&format!(
                "\n_cost ${:.6}{status}_\n",
                m.cost.micros as f64 / 1_000_000.0
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(dead_code)]
    mod openapi_schema {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/support/openapi_schema.rs"
        ));
    }
    use openapi_schema::{keys, schema, strings};

    fn view() -> ConversationView {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        ConversationView {
            id: "c".into(),
            title: "t".into(),
            personality_id: "p".into(),
            engine: "openai".into(),
            model: "m".into(),
            pinned: false,
            archived: false,
            current_message_id: None,
            message_count: 0,
            usage: UsageView {
                input_tokens: 0,
                output_tokens: 0,
            },
            cost: CostView::of(0),
            last_message_at: at,
            created_at: at,
            updated_at: at,
        }
    }

    fn assert_documented(name: &str, sent: serde_json::Value) {
        let documented = schema(name);
        assert_eq!(keys(&sent), strings(&documented["required"]), "{name}");
        assert_eq!(keys(&sent), keys(&documented["properties"]), "{name}");
    }

    #[test]
    fn every_shape_is_documented_as_helix_sends_it() {
        let listed = ListedView {
            conversation: view(),
            snippet: None,
        };
        assert_documented("ConversationSummary", serde_json::to_value(listed).unwrap());
        let message = MessageView {
            id: "m".into(),
            parent_id: None,
            role: "user".into(),
            content: String::new(),
            tool_calls: vec![],
            tool_call_id: None,
            status: "complete".into(),
            usage: None,
            cost: CostView::of(0),
            trace_id: None,
            created_at: view().created_at,
            versions: vec!["m".into()],
            version: 1,
        };
        assert_documented(
            "ConversationMessage",
            serde_json::to_value(&message).unwrap(),
        );
        let detail = ConversationDetail {
            conversation: view(),
            messages: vec![message],
        };
        assert_documented("Conversation", serde_json::to_value(&detail).unwrap());
        let markdown = markdown(&detail);
        assert!(markdown.starts_with("# t\n"), "{markdown}");
        assert!(markdown.contains("## You"), "{markdown}");
    }

    #[test]
    fn a_cursor_carries_the_pinned_flag_and_refuses_anything_else() {
        let at = view().last_message_at;
        let pinned = Cursor {
            created_at: at,
            id: "pabc".into(),
        };
        assert!(after(pinned).unwrap().0);
        for id in ["xabc", "p", ""] {
            let cursor = Cursor {
                created_at: at,
                id: id.into(),
            };
            assert!(after(cursor).is_err(), "{id}");
        }
    }
}
