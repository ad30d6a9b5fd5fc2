// The conversation so far and sending the next turn. Each send gets one Idempotency-Key, reused by
// "Try again", so a request that reached the server before the connection dropped is charged once.
// A send is either the person's message or the results of the tool calls the last answer asked for.
import { useCallback, useState } from 'react'
import { useApi } from '../api/context'
import type { Message, Provider, ToolCall, TurnRequest, TurnResponse } from '../api/types'
import { useBudget } from '../budget/context'

/** What the person ran for one tool call, sent back as a `tool` message with its `tool_call_id`. */
export interface ToolResult {
  callId: string
  name: string
  content: string
}

export type Outgoing = { kind: 'user'; text: string } | { kind: 'tool'; results: ToolResult[] }

export type ChatEntry =
  | { kind: 'user'; id: string; text: string }
  | { kind: 'tool'; id: string; results: ToolResult[] }
  | { kind: 'assistant'; id: string; turn: TurnResponse }

export interface PendingSend {
  outgoing: Outgoing
  request: TurnRequest
  idempotencyKey: string
  status: 'sending' | 'failed'
  error: unknown
}

export interface TurnTarget {
  engine: Provider
  model: string
  personalityId: string
}

function toEntry(outgoing: Outgoing, id: string): ChatEntry {
  return outgoing.kind === 'user'
    ? { kind: 'user', id, text: outgoing.text }
    : { kind: 'tool', id, results: outgoing.results }
}

/**
 * The messages a turn sends. An answer's tool calls are replayed only when the results follow it:
 * Helix does not run tools, and a provider rejects an assistant tool call without its result. An
 * answer that was nothing but unanswered tool calls is left out (the API refuses empty content).
 */
export function toMessages(entries: ChatEntry[]): Message[] {
  const messages: Message[] = []
  entries.forEach((entry, index) => {
    if (entry.kind === 'user') {
      messages.push({ role: 'user', content: entry.text })
    } else if (entry.kind === 'tool') {
      for (const result of entry.results) {
        messages.push({ role: 'tool', tool_call_id: result.callId, content: result.content })
      }
    } else {
      const answered = entries[index + 1]?.kind === 'tool' && entry.turn.tool_calls.length > 0
      if (answered) {
        messages.push({
          role: 'assistant',
          ...(entry.turn.text ? { content: entry.turn.text } : {}),
          tool_calls: entry.turn.tool_calls,
        })
      } else if (entry.turn.text.trim()) {
        messages.push({ role: 'assistant', content: entry.turn.text })
      }
    }
  })
  return messages
}

/** The tool calls of the last answer, while nothing has answered them yet. */
export function unansweredToolCalls(entries: ChatEntry[]): ToolCall[] {
  const last = entries.at(-1)
  return last?.kind === 'assistant' ? last.turn.tool_calls : []
}

export function useConversation() {
  const api = useApi()
  const { recordRemaining } = useBudget()
  const [entries, setEntries] = useState<ChatEntry[]>([])
  const [pending, setPending] = useState<PendingSend | null>(null)

  const run = useCallback(
    async (send: PendingSend) => {
      setPending({ ...send, status: 'sending', error: null })
      try {
        const turn = await api.createTurn(send.request, send.idempotencyKey)
        recordRemaining(turn.budget.remaining_cents)
        setEntries((current) => [
          ...current,
          toEntry(send.outgoing, send.idempotencyKey),
          { kind: 'assistant', id: `${send.idempotencyKey}:answer`, turn },
        ])
        setPending(null)
      } catch (error) {
        setPending({ ...send, status: 'failed', error })
      }
    },
    [api, recordRemaining],
  )

  const start = useCallback(
    (outgoing: Outgoing, target: TurnTarget) => {
      const idempotencyKey = crypto.randomUUID()
      const request: TurnRequest = {
        engine: target.engine,
        model: target.model,
        personalityId: target.personalityId,
        messages: toMessages([...entries, toEntry(outgoing, idempotencyKey)]),
      }
      return run({ outgoing, request, idempotencyKey, status: 'sending', error: null })
    },
    [entries, run],
  )

  const send = useCallback(
    (text: string, target: TurnTarget) => start({ kind: 'user', text }, target),
    [start],
  )

  const sendToolResults = useCallback(
    (results: ToolResult[], target: TurnTarget) => start({ kind: 'tool', results }, target),
    [start],
  )

  const retry = useCallback(() => (pending ? run(pending) : Promise.resolve()), [pending, run])

  /** Drops the unsent message or tool results and gives them back, to edit or send elsewhere. */
  const discard = useCallback((): Outgoing | null => {
    const outgoing = pending?.outgoing ?? null
    setPending(null)
    return outgoing
  }, [pending])

  const reset = useCallback(() => {
    setEntries([])
    setPending(null)
  }, [])

  return { entries, pending, send, sendToolResults, retry, discard, reset }
}
