// One answer as it streams in, and how it ended. Plain data: a turn's events fold into it one by one.
import type { TurnEvent } from '../api/turnStream'
import type { Cost, FinishReason, TokenUsage, ToolCall, TurnFailure, TurnStart } from '../api/types'

/**
 * What a stopped or cut answer cost. The server settles it after the stream is gone, so it is known
 * only once the ledger shows the turn (./settledCharge); it is never guessed.
 */
export type StoppedCharge = { state: 'settling' } | { state: 'settled'; costMicros: number } | { state: 'unknown' }

export type AnswerEnding =
  | { kind: 'streaming' }
  /** `done`: the charge is settled. */
  | { kind: 'finished'; usage: TokenUsage; cost: Cost; usageEstimated: boolean; finishReason: FinishReason }
  /** The person pressed Stop. */
  | { kind: 'stopped'; charge: StoppedCharge }
  /** The provider failed mid-answer; what it generated was charged. */
  | { kind: 'failed'; failure: TurnFailure }
  /** The stream broke off (the connection dropped) before `done`. */
  | { kind: 'cut'; charge: StoppedCharge }

export interface Answer {
  text: string
  toolCalls: ToolCall[]
  /** From the `start` event; null until it arrives. */
  turn: TurnStart | null
  ending: AnswerEnding
}

export const NEW_ANSWER: Answer = { text: '', toolCalls: [], turn: null, ending: { kind: 'streaming' } }

export function withEvent(answer: Answer, event: TurnEvent): Answer {
  switch (event.type) {
    case 'start':
      return { ...answer, turn: event.start }
    case 'delta':
      return { ...answer, text: answer.text + event.text }
    case 'tool_call':
      return { ...answer, toolCalls: [...answer.toolCalls, event.call] }
    case 'done':
      return {
        ...answer,
        ending: {
          kind: 'finished',
          usage: event.done.usage,
          cost: event.done.cost,
          usageEstimated: event.done.usage_estimated,
          finishReason: event.done.finish_reason,
        },
      }
    case 'error':
      return { ...answer, ending: { kind: 'failed', failure: event.error } }
  }
}

/** The balance an event reports, to show in the banner; null when it reports none. */
export function remainingCentsAfter(event: TurnEvent): number | null {
  if (event.type === 'done') return event.done.budget.remaining_cents
  if (event.type === 'error') return event.error.budget?.remaining_cents ?? null
  return null
}

export type Interruption = 'stopped' | 'cut'

export function interrupted(answer: Answer, how: Interruption, charge: StoppedCharge): Answer {
  return { ...answer, ending: { kind: how, charge } }
}

export function isStreaming(answer: Answer): boolean {
  return answer.ending.kind === 'streaming'
}
