// The conversation so far and sending the next turn. Each send gets one Idempotency-Key, reused by
// "Try again", so a request that reached the server before the connection dropped is charged once.
import { useCallback, useState } from 'react'
import { useApi } from '../api/context'
import type { Message, Provider, TurnRequest, TurnResponse } from '../api/types'
import { useBudget } from '../budget/context'

export type ChatEntry =
  | { kind: 'user'; id: string; text: string }
  | { kind: 'assistant'; id: string; turn: TurnResponse }

export interface PendingSend {
  text: string
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

function toMessages(entries: ChatEntry[]): Message[] {
  // Earlier tool calls are not replayed: Helix does not run tools, and a provider rejects an assistant
  // tool call that is not followed by its result.
  return entries.map((entry) =>
    entry.kind === 'user'
      ? { role: 'user', content: entry.text }
      : { role: 'assistant', content: entry.turn.text },
  )
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
          { kind: 'user', id: send.idempotencyKey, text: send.text },
          { kind: 'assistant', id: `${send.idempotencyKey}:answer`, turn },
        ])
        setPending(null)
      } catch (error) {
        setPending({ ...send, status: 'failed', error })
      }
    },
    [api, recordRemaining],
  )

  const send = useCallback(
    (text: string, target: TurnTarget) => {
      const request: TurnRequest = {
        engine: target.engine,
        model: target.model,
        personalityId: target.personalityId,
        messages: [...toMessages(entries), { role: 'user', content: text }],
      }
      return run({ text, request, idempotencyKey: crypto.randomUUID(), status: 'sending', error: null })
    },
    [entries, run],
  )

  const retry = useCallback(() => (pending ? run(pending) : Promise.resolve()), [pending, run])

  /** Drops the unsent message and gives its text back, to edit or send elsewhere. */
  const discard = useCallback((): string => {
    const text = pending?.text ?? ''
    setPending(null)
    return text
  }, [pending])

  const reset = useCallback(() => {
    setEntries([])
    setPending(null)
  }, [])

  return { entries, pending, send, retry, discard, reset }
}
