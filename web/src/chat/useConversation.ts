// The conversation so far and sending the next turn, its answer streamed in and stoppable. Each send
// gets one Idempotency-Key, reused by "Try again" while no answer has begun, so a request that reached
// the server before the connection dropped is charged once. A send is either the person's message or
// the results of the tool calls the last answer asked for.
import { useCallback, useEffect, useRef, useState } from 'react'
import { useApi } from '../api/context'
import type { Message, Provider, ToolCall, TurnRequest } from '../api/types'
import { useBudget } from '../budget/context'
import {
  NEW_ANSWER,
  interrupted,
  isStreaming,
  remainingCentsAfter,
  withEvent,
  type Answer,
  type Interruption,
  type StoppedCharge,
} from './answer'
import { settledCharge } from './settledCharge'

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
  | { kind: 'assistant'; id: string; answer: Answer }

/** A send whose answer has not begun: still waiting for it, or refused (to try again or discard). */
export interface PendingSend {
  outgoing: Outgoing
  request: TurnRequest
  idempotencyKey: string
  status: 'sending' | 'failed'
  error: unknown
}

const BROKE_OFF = 'The connection to Helix broke before the answer was finished.'

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
 * answer that was nothing but unanswered tool calls is left out (the API refuses empty content). A
 * stopped or failed answer is sent as far as it got: that is what the person read.
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
      const { text, toolCalls } = entry.answer
      const answered = entries[index + 1]?.kind === 'tool' && toolCalls.length > 0
      if (answered) {
        messages.push({ role: 'assistant', ...(text ? { content: text } : {}), tool_calls: toolCalls })
      } else if (text.trim()) {
        messages.push({ role: 'assistant', content: text })
      }
    }
  })
  return messages
}

/** The tool calls of the last answer, once it has finished and while nothing has answered them yet. */
export function unansweredToolCalls(entries: ChatEntry[]): ToolCall[] {
  const last = entries.at(-1)
  return last?.kind === 'assistant' && last.answer.ending.kind === 'finished' ? last.answer.toolCalls : []
}

function withAnswer(entries: ChatEntry[], id: string, answer: Answer): ChatEntry[] {
  return entries.map((entry) => (entry.kind === 'assistant' && entry.id === id ? { ...entry, answer } : entry))
}

export function useConversation() {
  const api = useApi()
  const { recordRemaining } = useBudget()
  const [entries, setEntries] = useState<ChatEntry[]>([])
  const [pending, setPending] = useState<PendingSend | null>(null)
  // The turn in flight, to stop it.
  const inFlight = useRef<AbortController | null>(null)

  // Leaving the chat stops its answer: nobody would read the rest, and it would keep costing.
  useEffect(() => () => inFlight.current?.abort(), [])

  /** After a stop or a break: the balance and, once the ledger shows it, what the answer cost. */
  const settle = useCallback(
    async (answerId: string, answer: Answer, how: Interruption) => {
      setEntries((current) => withAnswer(current, answerId, interrupted(answer, how, { state: 'settling' })))
      let charge: StoppedCharge = { state: 'unknown' }
      try {
        const settled = await settledCharge(api, answer.turn?.trace_id ?? null)
        // A newer turn in flight reports its own, newer balance.
        if (!inFlight.current) recordRemaining(settled.balanceCents)
        if (settled.costMicros !== null) charge = { state: 'settled', costMicros: settled.costMicros }
      } catch {
        // The budget could not be read: the cost stays unknown, and the next turn corrects the banner.
      }
      setEntries((current) => withAnswer(current, answerId, interrupted(answer, how, charge)))
    },
    [api, recordRemaining],
  )

  const run = useCallback(
    async (send: PendingSend) => {
      const controller = new AbortController()
      inFlight.current = controller
      setPending({ ...send, status: 'sending', error: null })
      const answerId = `${send.idempotencyKey}:answer`
      const begin = (answer: Answer) => {
        setEntries((current) => [
          ...current,
          toEntry(send.outgoing, send.idempotencyKey),
          { kind: 'assistant', id: answerId, answer },
        ])
        setPending(null)
      }

      // Null until the first event: till then a failure leaves the send pending, to try again.
      let answer: Answer | null = null
      let failure: { error: unknown } | null = null
      try {
        for await (const event of api.streamTurn(send.request, send.idempotencyKey, controller.signal)) {
          const next = withEvent(answer ?? NEW_ANSWER, event)
          if (answer === null) begin(next)
          else setEntries((current) => withAnswer(current, answerId, next))
          answer = next
          const remaining = remainingCentsAfter(event)
          if (remaining !== null) recordRemaining(remaining)
        }
        if (answer === null || isStreaming(answer)) failure = { error: new Error(BROKE_OFF) }
      } catch (error) {
        failure = { error }
      } finally {
        if (inFlight.current === controller) inFlight.current = null
      }
      if (!failure) return

      const stopped = controller.signal.aborted
      if (answer === null && !stopped) {
        setPending({ ...send, status: 'failed', error: failure.error })
        return
      }
      if (answer === null) {
        // Stopped before the answer began: the turn may have reached the server all the same.
        answer = NEW_ANSWER
        begin(answer)
      }
      await settle(answerId, answer, stopped ? 'stopped' : 'cut')
    },
    [api, recordRemaining, settle],
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

  const stop = useCallback(() => {
    inFlight.current?.abort()
  }, [])

  const reset = useCallback(() => {
    setEntries([])
    setPending(null)
  }, [])

  const last = entries.at(-1)
  const busy = pending?.status === 'sending' || (last?.kind === 'assistant' && isStreaming(last.answer))

  return { entries, pending, busy, send, sendToolResults, retry, discard, stop, reset }
}
