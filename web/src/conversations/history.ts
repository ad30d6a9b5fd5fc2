// A stored conversation's active branch as the chat's entries: each question, each tool-result group
// and each answer, with its stored id and versions so it can be regenerated, edited or switched.
import type { Conversation, StoredMessage, TokenUsage } from '../api/types'
import type { Answer } from '../chat/answer'
import type { ChatEntry, StoredRef, ToolResult } from '../chat/useConversation'

function ref(message: StoredMessage): StoredRef {
  return { messageId: message.id, versions: message.versions, version: message.version }
}

const NO_USAGE: TokenUsage = { input_tokens: 0, output_tokens: 0 }

function answerOf(message: StoredMessage, conversation: Conversation): Answer {
  const turn = {
    trace_id: message.trace_id ?? '',
    engine: conversation.engine,
    model: conversation.model,
    personality_id: conversation.personality_id,
    max_tokens: 0,
    max_tokens_reduced: false,
  }
  const base = { text: message.content, toolCalls: message.tool_calls, turn: message.trace_id ? turn : null }
  switch (message.status) {
    case 'stopped':
      return { ...base, ending: { kind: 'stopped', charge: { state: 'settled', costMicros: message.cost.micros } } }
    case 'failed':
      return {
        ...base,
        ending: {
          kind: 'failed',
          failure: {
            code: 'provider_stream_cut',
            message: 'The provider broke off before the answer was finished',
            trace_id: message.trace_id,
            charged: message.cost,
          },
        },
      }
    case 'complete':
      return {
        ...base,
        ending: {
          kind: 'finished',
          usage: message.usage ?? NO_USAGE,
          cost: message.cost,
          usageEstimated: false,
          finishReason: message.tool_calls.length > 0 ? 'tool_calls' : 'stop',
        },
      }
  }
}

export function entriesOf(conversation: Conversation): ChatEntry[] {
  const entries: ChatEntry[] = []
  const callNames = new Map<string, string>()
  for (const message of conversation.messages) {
    if (message.role === 'user') {
      entries.push({ kind: 'user', id: message.id, text: message.content, stored: ref(message) })
    } else if (message.role === 'assistant') {
      for (const call of message.tool_calls) callNames.set(call.id, call.name)
      entries.push({ kind: 'assistant', id: message.id, answer: answerOf(message, conversation), stored: ref(message) })
    } else if (message.role === 'tool') {
      const callId = message.tool_call_id ?? ''
      const result: ToolResult = { callId, name: callNames.get(callId) ?? 'tool', content: message.content }
      const last = entries.at(-1)
      // One entry per group of results, as the chat sends them.
      if (last?.kind === 'tool') entries[entries.length - 1] = { ...last, results: [...last.results, result] }
      else entries.push({ kind: 'tool', id: message.id, results: [result] })
    }
  }
  return entries
}
