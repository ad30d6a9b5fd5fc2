//! A turn of a stored conversation: its history loaded before the call (the active branch up to
//! where the new messages go), and the new messages and the answer stored in the transaction that
//! charges the answer, so a charged answer is never missing and a refused one leaves nothing.

use sqlx::PgConnection;

use super::Settled;
use crate::chat::{Message, Role, ToolCall};
use crate::conversation::{self, MessageStatus, tree};
use crate::db::conversations::{self as store, MessageCharge, NewConversation, NewMessage};
use crate::ids::new_id;
use crate::usage::Usage;
use crate::{ApiError, AppState};

/// What a turn asks of a stored conversation (the HTTP layer checked its shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationTurn {
    /// The conversation to continue; `None` starts one (`"save": true`).
    pub id: Option<String>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The new messages follow the current message.
    Continue,
    /// A new version of the current answer, beside it (no new messages).
    Regenerate,
    /// A new version of this earlier user message (the turn's one message), then its answer.
    Edit { message_id: String },
}

/// A conversation turn ready to run: where its messages go and what the model sees before them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub conversation_id: String,
    /// The conversation is created when the answer is stored.
    pub is_new: bool,
    pub title: String,
    /// The personality the stored conversation last ran under (`None` for a new one).
    pub personality_id: Option<String>,
    /// The stored message the new ones follow (`None`: the first messages).
    pub parent_id: Option<String>,
    /// The stored history the model sees, oldest first.
    pub history: Vec<Message>,
    /// This turn's own messages (stored with the answer), and their ids.
    pub new_messages: Vec<(String, Message)>,
    /// The answer's id, known before it exists.
    pub answer_id: String,
}

/// What a stored turn reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub conversation_id: String,
    /// The stored answer; `None` when the conversation was deleted while the turn ran (the answer
    /// was still charged, and stored nowhere).
    pub message_id: Option<String>,
    /// Messages of the stored history the model was not sent, to fit the input budget.
    pub history_omitted: usize,
}

/// Loads what the turn needs. Another user's conversation, or an unknown one, is a 404; a
/// regenerate without an answer to replace, or an edit of a message that is not a question of
/// this conversation, is a 400; a conversation at its message limit is a 409.
pub async fn plan(
    state: &AppState,
    user_id: &str,
    turn: &ConversationTurn,
    messages: Vec<Message>,
) -> Result<Plan, ApiError> {
    let answer_id = new_id();
    let with_ids = |messages: Vec<Message>| -> Vec<(String, Message)> {
        messages.into_iter().map(|m| (new_id(), m)).collect()
    };
    let Some(id) = &turn.id else {
        let first_question = messages
            .iter()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.as_str());
        return Ok(Plan {
            conversation_id: new_id(),
            is_new: true,
            title: conversation::title_from(first_question, conversation::AUTO_TITLE_CHARS),
            personality_id: None,
            parent_id: None,
            history: Vec::new(),
            new_messages: with_ids(messages),
            answer_id,
        });
    };
    let not_found = || ApiError::NotFound {
        resource: "conversation",
    };
    let found = store::find(&state.db, user_id, id)
        .await?
        .ok_or_else(not_found)?;
    let limit = state.config.conversations.max_messages;
    let adding = i64::try_from(messages.len() + 1).unwrap_or(i64::MAX);
    if found.message_count.saturating_add(adding) > limit {
        return Err(ApiError::Conflict {
            code: "conversation_too_long",
            message: format!("this conversation holds {limit} messages, its most: start a new one"),
        });
    }
    let stored = store::messages(&state.db, user_id, id).await?;
    let nodes: Vec<tree::Node<'_>> = stored
        .iter()
        .map(|m| tree::Node {
            id: &m.id,
            parent_id: m.parent_id.as_deref(),
        })
        .collect();
    let current = found.current_message_id.as_deref();
    let bad = |message: &str| ApiError::bad_request(message.to_owned());
    let parent_id = match &turn.action {
        Action::Continue => current.map(str::to_owned),
        Action::Regenerate => {
            let leaf = stored
                .iter()
                .find(|m| Some(m.id.as_str()) == current)
                .filter(|m| m.role == "assistant")
                .ok_or_else(|| bad("regenerate: the conversation does not end in an answer"))?;
            leaf.parent_id.clone()
        }
        Action::Edit { message_id } => {
            let edited = stored
                .iter()
                .find(|m| &m.id == message_id && m.role == "user")
                .ok_or_else(|| bad("edit_message_id: not a user message of this conversation"))?;
            edited.parent_id.clone()
        }
    };
    let history = tree::branch(&nodes, parent_id.as_deref())
        .into_iter()
        .filter_map(|at| as_message(&stored[at]))
        .collect::<Vec<_>>();
    if turn.action == Action::Regenerate
        && !history
            .last()
            .is_some_and(|m| matches!(m.role, Role::User | Role::Tool))
    {
        return Err(bad("regenerate: there is no question to answer again"));
    }
    Ok(Plan {
        conversation_id: found.id,
        is_new: false,
        title: found.title,
        personality_id: Some(found.personality_id),
        parent_id,
        history,
        new_messages: with_ids(messages),
        answer_id,
    })
}

/// A stored message as the model sees it; an answer that never got a word (stopped at once, or
/// failed) is left out, as no provider takes an empty assistant message.
fn as_message(stored: &store::StoredMessage) -> Option<Message> {
    let role = match stored.role.as_str() {
        "system" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return None,
    };
    let tool_calls: Vec<ToolCall> = stored.tool_calls.0.clone();
    if role == Role::Assistant && stored.content.trim().is_empty() && tool_calls.is_empty() {
        return None;
    }
    Some(Message {
        role,
        content: stored.content.clone(),
        tool_call_id: stored.tool_call_id.clone(),
        tool_calls,
    })
}

/// The answer as it is stored.
pub struct Answer<'a> {
    pub text: &'a str,
    pub tool_calls: &'a [ToolCall],
    pub status: MessageStatus,
    pub usage: Usage,
    pub trace_id: &'a str,
    pub personality_id: &'a str,
    pub engine: &'a str,
    pub model: &'a str,
}

/// Stores the turn's messages and its answer in `tx`, the transaction that settled the charge:
/// the conversation first when it is new, then the messages in order under the plan's parent,
/// and the answer becomes the current message. A conversation deleted while the turn ran stores
/// nothing (its charge stands).
pub async fn store_answer(
    tx: &mut PgConnection,
    user_id: &str,
    plan: &Plan,
    answer: &Answer<'_>,
    settled: &Settled,
    history_omitted: usize,
) -> Result<Saved, ApiError> {
    let conversation_id = plan.conversation_id.as_str();
    if plan.is_new {
        store::create(
            &mut *tx,
            &NewConversation {
                id: conversation_id,
                user_id,
                title: &plan.title,
                personality_id: answer.personality_id,
                engine: answer.engine,
                model: answer.model,
            },
        )
        .await?;
    } else if !store::lock(&mut *tx, user_id, conversation_id).await? {
        return Ok(Saved {
            conversation_id: conversation_id.to_owned(),
            message_id: None,
            history_omitted,
        });
    }
    let mut parent = plan.parent_id.as_deref();
    for (id, message) in &plan.new_messages {
        store::insert_message(
            &mut *tx,
            &NewMessage {
                id,
                conversation_id,
                user_id,
                parent_id: parent,
                role: role_name(message.role),
                content: &message.content,
                tool_calls: &message.tool_calls,
                tool_call_id: message.tool_call_id.as_deref(),
                status: MessageStatus::Complete.as_str(),
                charge: None,
                trace_id: Some(answer.trace_id),
            },
        )
        .await?;
        parent = Some(id);
    }
    let charge = MessageCharge {
        input_tokens: i64::try_from(answer.usage.input_tokens).unwrap_or(i64::MAX),
        output_tokens: i64::try_from(answer.usage.output_tokens).unwrap_or(i64::MAX),
        cost_micros: settled.cost_micros,
        ledger_id: &settled.settlement.ledger_id,
    };
    store::insert_message(
        &mut *tx,
        &NewMessage {
            id: &plan.answer_id,
            conversation_id,
            user_id,
            parent_id: parent,
            role: role_name(Role::Assistant),
            content: answer.text,
            tool_calls: answer.tool_calls,
            tool_call_id: None,
            status: answer.status.as_str(),
            charge: Some(charge),
            trace_id: Some(answer.trace_id),
        },
    )
    .await?;
    store::advance(
        &mut *tx,
        user_id,
        conversation_id,
        &plan.answer_id,
        charge,
        (answer.personality_id, answer.engine, answer.model),
    )
    .await?;
    Ok(Saved {
        conversation_id: conversation_id.to_owned(),
        message_id: Some(plan.answer_id.clone()),
        history_omitted,
    })
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}
