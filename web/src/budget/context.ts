// The caller's remaining budget, visible everywhere, and whether the app is locked because it is spent.
import { createContext, useContext } from 'react'
import type { BudgetAlert } from '../api/types'

export interface BudgetExhaustion {
  /** `budget_exhausted`, `spend_locked`, or `spend_cap_reached` (the period's cap, not the balance). */
  code: string
  message: string
  balanceCents: number | null
  requiredCents: number | null
}

export interface BudgetState {
  /** null until GET /v1/budget answers. */
  balanceCents: number | null
  loadError: string | null
  /** Set by a 402 from any call; cleared when a refresh shows the balance has grown. */
  exhaustion: BudgetExhaustion | null
  /** True when no more turns can be paid for: after a 402, or with a balance of zero or less. */
  locked: boolean
  /** This period's alerts, from the last GET /v1/budget. */
  alerts: BudgetAlert[]
  recordRemaining: (remainingCents: number) => void
  refresh: () => Promise<void>
}

export const BudgetContext = createContext<BudgetState | null>(null)

export function useBudget(): BudgetState {
  const state = useContext(BudgetContext)
  if (!state) throw new Error('useBudget must be used inside <BudgetProvider>')
  return state
}
