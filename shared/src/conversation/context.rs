//! Which messages of a stored conversation a turn sends: the system prompts at the front and the
//! latest messages always stay; the oldest turns go first, whole (a question with its answers and
//! tool results), until Helix's bound of the input fits the budget; and no tool call goes out
//! without the result that answers it.

use crate::chat::{Message, Role};

/// Leaves out the oldest messages after the leading system messages until `total_tokens` (the
/// bound of the whole input) minus what was left out fits `budget_tokens`, never touching the last
/// `keep_last` messages. A cut always lands right before a user message, so no answer or tool
/// result is sent without the question it belongs to. Returns how many messages were left out;
/// when even that cannot fit, as many as may go are left out and the caller's reservation (or
/// the provider) has the last word.
pub fn omit_oldest(
    messages: &mut Vec<Message>,
    keep_last: usize,
    total_tokens: u64,
    budget_tokens: u64,
    bound: impl Fn(&Message) -> u64,
) -> usize {
    if total_tokens <= budget_tokens {
        return 0;
    }
    let excess = total_tokens - budget_tokens;
    let first = messages
        .iter()
        .take_while(|m| m.role == Role::System)
        .count();
    let protected_from = messages.len().saturating_sub(keep_last.max(1)).max(first);
    let mut saved = 0;
    let mut best = first;
    for index in first..protected_from {
        saved += bound(&messages[index]);
        let cut = index + 1;
        // A cut is allowed only before a user message (or before the protected tail).
        let clean = cut == protected_from || messages[cut].role == Role::User;
        if clean {
            best = cut;
            if saved >= excess {
                break;
            }
        }
    }
    let omitted = best - first;
    messages.drain(first..best);
    omitted
}

/// The input a stored conversation's turn may send: the configured budget, and for a model whose
/// context window Helix knows (the in-process one), no more than that window leaves for the answer's
/// `max_tokens`. Helix's bound counts bytes, never fewer than the model's tokens, so what fits here
/// fits the window.
pub fn input_budget(configured_tokens: u64, context_window: Option<u64>, max_tokens: u32) -> u64 {
    match context_window {
        Some(window) => configured_tokens.min(window.saturating_sub(u64::from(max_tokens))),
        None => configured_tokens,
    }
}

/// Drops the tool calls of an answer that no tool result follows (the person wrote a new message
/// instead of running the tools): providers refuse an assistant tool call without its result. An
/// answer that was nothing but such calls is left out whole. Returns how many answers changed.
pub fn drop_unanswered_tool_calls(messages: &mut Vec<Message>) -> usize {
    let mut changed = 0;
    let mut index = 0;
    while index < messages.len() {
        let answered = messages
            .get(index + 1)
            .is_some_and(|next| next.role == Role::Tool);
        let message = &mut messages[index];
        if message.role == Role::Assistant && !message.tool_calls.is_empty() && !answered {
            changed += 1;
            message.tool_calls.clear();
            if message.content.trim().is_empty() {
                messages.remove(index);
                continue;
            }
        }
        index += 1;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ToolCall;

    fn m(role: Role, text: &str) -> Message {
        Message::new(role, text)
    }

    fn len(m: &Message) -> u64 {
        m.content.len() as u64
    }

    fn total(messages: &[Message]) -> u64 {
        messages.iter().map(len).sum()
    }

    fn history() -> Vec<Message> {
        vec![
            m(Role::System, "sys"),
            m(Role::User, "q1xxxxxxxx"),
            m(Role::Assistant, "a1xxxxxxxx"),
            m(Role::User, "q2xxxxxxxx"),
            m(Role::Assistant, "a2xxxxxxxx"),
            m(Role::User, "q3"),
        ]
    }

    #[test]
    fn a_history_within_budget_is_sent_whole() {
        let mut messages = history();
        let sum = total(&messages);
        assert_eq!(omit_oldest(&mut messages, 1, sum, sum, len), 0);
        assert_eq!(messages, history());
    }

    #[test]
    fn the_oldest_turn_goes_first_and_the_system_prompt_and_latest_question_stay() {
        let mut messages = history();
        let sum = total(&messages);
        let omitted = omit_oldest(&mut messages, 1, sum, sum - 15, len);
        assert_eq!(omitted, 2);
        assert_eq!(messages[0], m(Role::System, "sys"));
        assert_eq!(messages[1], m(Role::User, "q2xxxxxxxx"));
        assert_eq!(messages.last().unwrap(), &m(Role::User, "q3"));
    }

    #[test]
    fn an_impossible_budget_leaves_only_the_system_prompt_and_the_kept_tail() {
        let mut messages = history();
        let sum = total(&messages);
        let omitted = omit_oldest(&mut messages, 1, sum, 1, len);
        assert_eq!(omitted, 4);
        assert_eq!(messages, vec![m(Role::System, "sys"), m(Role::User, "q3")]);
    }

    #[test]
    fn a_tool_result_never_loses_the_call_it_answers() {
        let call = ToolCall {
            id: "c1".into(),
            name: "clock".into(),
            arguments: serde_json::json!({}),
        };
        let mut asked = m(Role::Assistant, "");
        asked.tool_calls.push(call);
        let mut messages = vec![
            m(Role::System, "sys"),
            m(Role::User, "q1"),
            asked,
            Message::tool_result("c1", "12:00 xxxxxxxxxxxxxxxxxxxx"),
            m(Role::Assistant, "It is noon."),
            m(Role::User, "q2"),
        ];
        let sum = total(&messages);
        // Saving 2 bytes would do, but the cut must land before a user message.
        let omitted = omit_oldest(&mut messages, 1, sum, sum - 2, len);
        assert_eq!(omitted, 4);
        assert_eq!(messages, vec![m(Role::System, "sys"), m(Role::User, "q2")]);
    }

    #[test]
    fn a_known_context_window_leaves_room_for_the_answer() {
        assert_eq!(input_budget(32_000, None, 1024), 32_000);
        assert_eq!(input_budget(32_000, Some(4096), 1024), 3072);
        assert_eq!(input_budget(2_000, Some(4096), 1024), 2_000);
        assert_eq!(input_budget(32_000, Some(512), 1024), 0);
    }

    #[test]
    fn tool_calls_nobody_answered_are_not_sent() {
        let call = |id: &str| ToolCall {
            id: id.into(),
            name: "calculator".into(),
            arguments: serde_json::json!({}),
        };
        let mut only_calls = m(Role::Assistant, "");
        only_calls.tool_calls.push(call("c1"));
        let mut with_text = m(Role::Assistant, "Let me check.");
        with_text.tool_calls.push(call("c2"));
        let mut answered = m(Role::Assistant, "");
        answered.tool_calls.push(call("c3"));
        let mut messages = vec![
            m(Role::User, "q1"),
            only_calls,
            m(Role::User, "q2"),
            with_text,
            m(Role::User, "q3"),
            answered.clone(),
            Message::tool_result("c3", "4"),
        ];

        assert_eq!(drop_unanswered_tool_calls(&mut messages), 2);

        assert_eq!(
            messages,
            vec![
                m(Role::User, "q1"),
                m(Role::User, "q2"),
                m(Role::Assistant, "Let me check."),
                m(Role::User, "q3"),
                answered,
                Message::tool_result("c3", "4"),
            ]
        );
    }

    #[test]
    fn the_new_messages_of_this_turn_are_never_left_out() {
        let mut messages = history();
        let sum = total(&messages);
        let omitted = omit_oldest(&mut messages, 3, sum, 1, len);
        assert_eq!(omitted, 2);
        assert_eq!(messages.len(), 4);
    }
}
