// The conversation so far and sending the next turn, its answer streamed in and stoppable. Each send
// gets one Idempotency-Key, reused by "Try again" while no answer has begun, so a request that reached
// the server before the connection dropped is charged once. A send is either the person's message or
// the results of the tool calls the last answer asked for.
//
// Every chat is stored on the server: the first send saves it (`"save": true`) and the answer names
// the new conversation; later sends carry its `conversation_id` and only the new messages. An answer
// can be regenerated and a question edited; the earlier versions stay on the server.
import { useCallback, useEffect, useRef, useState } from 'react'
import { useApi } from '../api/context'
import type { Conversation, Message, Provider, ToolCall, TurnRequest } from '../api/types'
import { useBudget } from '../budget/context'
import { entriesOf } from '../conversations/history'
import { mergeStored } from '../conversations/merge'
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

export type Outgoing =
  | { kind: 'user'; text: string }
  | { kind: 'tool'; results: ToolResult[] }
  /** The last answer, again. */
  | { kind: 'regenerate' }
  /** A new version of the stored question `messageId`. */
  | { kind: 'edit'; messageId: string; text: string }

/** Where an entry is stored, and its versions (regenerated answers, edited questions). */
export interface StoredRef {
  messageId: string
  versions: string[]
  /** From 1. */
  version: number
}

export type ChatEntry =
  | { kind: 'user'; id: string; text: string; stored?: StoredRef }
  | { kind: 'tool'; id: string; results: ToolResult[] }
  | { kind: 'assistant'; id: string; answer: Answer; stored?: StoredRef }

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

function toEntry(outgoing: Outgoing, id: string): ChatEntry | null {
  switch (outgoing.kind) {
    case 'user':
    case 'edit':
      return { kind: 'user', id, text: outgoing.text }
    case 'tool':
      return { kind: 'tool', id, results: outgoing.results }
    case 'regenerate':
      return null
  }
}

/** The entries a send continues from: a regenerate replaces the last answer, an edit its question on. */
function entriesBefore(entries: ChatEntry[], outgoing: Outgoing): ChatEntry[] {
  if (outgoing.kind === 'regenerate') return entries.at(-1)?.kind === 'assistant' ? entries.slice(0, -1) : entries
  if (outgoing.kind === 'edit') {
    const at = entries.findIndex((entry) => entry.kind === 'user' && entry.stored?.messageId === outgoing.messageId)
    return at >= 0 ? entries.slice(0, at) : entries
  }
  return entries
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

export function useConversation({ onSaved }: { onSaved?: (conversationId: string) => void } = {}) {
  const api = useApi()
  const { recordRemaining } = useBudget()
  const [entries, setEntries] = useState<ChatEntry[]>([])
  const [pending, setPending] = useState<PendingSend | null>(null)
  // The stored conversation this chat is (null until its first answer names it), as last read.
  const [conversationId, setConversationId] = useState<string | null>(null)
  const [stored, setStored] = useState<Conversation | null>(null)
  // The turn in flight, to stop it.
  const inFlight = useRef<AbortController | null>(null)
  // Counts sends and loads, so a refresh that a newer one overtook is dropped.
  const generation = useRef(0)
  const savedCallback = useRef(onSaved)
  useEffect(() => {
    savedCallback.current = onSaved
  }, [onSaved])

  /**
   * Reads the stored conversation again after a turn: its ids, versions and running cost. `at` is
   * the turn's generation: a newer send, load or reset wins over it.
   */
  const refresh = useCallback(
    async (id: string, at: number) => {
      try {
        const conversation = await api.getConversation(id)
        if (generation.current !== at || inFlight.current) return
        setStored(conversation)
        setEntries((current) => mergeStored(current, entriesOf(conversation)))
      } catch {
        // The chat still shows what it has; the next turn or a reload reads it again.
      }
    },
    [api],
  )

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
      generation.current += 1
      const mine = generation.current
      const answerId = `${send.idempotencyKey}:answer`
      let savedAs = send.request.conversation_id ?? null
      const begin = (answer: Answer) => {
        const sent = toEntry(send.outgoing, send.idempotencyKey)
        setEntries((current) => [
          ...entriesBefore(current, send.outgoing),
          ...(sent ? [sent] : []),
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
          if (event.type === 'start' && event.start.conversation_id && !savedAs) {
            savedAs = event.start.conversation_id
            setConversationId(savedAs)
            savedCallback.current?.(savedAs)
          }
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
      if (!failure) {
        if (savedAs) void refresh(savedAs, mine)
        return
      }

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
      if (generation.current !== mine) return
      await settle(answerId, answer, stopped ? 'stopped' : 'cut')
      if (savedAs) await refresh(savedAs, mine)
    },
    [api, recordRemaining, settle, refresh],
  )

  const start = useCallback(
    (outgoing: Outgoing, target: TurnTarget) => {
      const idempotencyKey = crypto.randomUUID()
      const sent = toEntry(outgoing, idempotencyKey)
      const base = { engine: target.engine, model: target.model, personalityId: target.personalityId }
      // A stored conversation has its history on the server: only what is new is sent.
      const request: TurnRequest = conversationId
        ? {
            ...base,
            conversation_id: conversationId,
            messages: sent ? toMessages([sent]) : [],
            ...(outgoing.kind === 'regenerate' ? { regenerate: true } : {}),
            ...(outgoing.kind === 'edit' ? { edit_message_id: outgoing.messageId } : {}),
          }
        : { ...base, save: true, messages: toMessages([...entries, ...(sent ? [sent] : [])]) }
      return run({ outgoing, request, idempotencyKey, status: 'sending', error: null })
    },
    [entries, run, conversationId],
  )

  const send = useCallback(
    (text: string, target: TurnTarget) => start({ kind: 'user', text }, target),
    [start],
  )

  const sendToolResults = useCallback(
    (results: ToolResult[], target: TurnTarget) => start({ kind: 'tool', results }, target),
    [start],
  )

  const regenerate = useCallback((target: TurnTarget) => start({ kind: 'regenerate' }, target), [start])

  const edit = useCallback(
    (messageId: string, text: string, target: TurnTarget) => start({ kind: 'edit', messageId, text }, target),
    [start],
  )

  /** Shows a stored conversation, as read from the server. */
  const load = useCallback((conversation: Conversation) => {
    generation.current += 1
    inFlight.current?.abort()
    setConversationId(conversation.id)
    setStored(conversation)
    setEntries(entriesOf(conversation))
    setPending(null)
  }, [])

  /** Switches a message to another of its versions; the chat continues on that branch. */
  const switchVersion = useCallback(
    async (messageId: string) => {
      if (!conversationId) return
      load(await api.updateConversation(conversationId, { active_message_id: messageId }))
    },
    [api, conversationId, load],
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
    generation.current += 1
    inFlight.current?.abort()
    setEntries([])
    setPending(null)
    setConversationId(null)
    setStored(null)
  }, [])

  const last = entries.at(-1)
  const busy = pending?.status === 'sending' || (last?.kind === 'assistant' && isStreaming(last.answer))

  return {
    entries,
    pending,
    busy,
    conversationId,
    stored,
    send,
    sendToolResults,
    regenerate,
    edit,
    load,
    switchVersion,
    retry,
    discard,
    stop,
    reset,
  }
}
