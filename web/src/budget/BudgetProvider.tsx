// Loads the balance once (GET /v1/budget), follows each turn's remaining_cents, and locks on a 402.
import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react'
import { useApi } from '../api/context'
import type { Budget, BudgetAlert } from '../api/types'
import { errorText } from '../ui/errorText'
import { BudgetContext, type BudgetExhaustion, type BudgetState } from './context'

export function BudgetProvider({ children }: { children: ReactNode }) {
  const api = useApi()
  const [balanceCents, setBalanceCents] = useState<number | null>(null)
  const [loadError, setLoadError] = useState<string | null>(null)
  const [exhaustion, setExhaustion] = useState<BudgetExhaustion | null>(null)
  const [alerts, setAlerts] = useState<BudgetAlert[]>([])

  const applyBudget = useCallback((budget: Budget) => {
    setLoadError(null)
    setBalanceCents(budget.balance_cents)
    // An older API answers without alerts.
    setAlerts(Array.isArray(budget.alerts) ? budget.alerts : [])
    // A grant since the 402 lifts the lockout; the same balance keeps it. A spending cap's lockout
    // lifts when the cap is raised or removed, or a new period starts (spend below the cap again).
    setExhaustion((current) => {
      if (!current) return current
      if (current.code === 'spend_cap_reached') {
        const cap = budget.spend_cap_micros
        return cap === null || budget.spent_micros_this_period + budget.open_holds.micros < cap ? null : current
      }
      return current.balanceCents === null || budget.balance_cents > current.balanceCents ? null : current
    })
  }, [])

  const refresh = useCallback(async () => {
    try {
      applyBudget(await api.getBudget({ limit: 1 }))
    } catch (error) {
      setLoadError(errorText(error))
    }
  }, [api, applyBudget])

  useEffect(() => {
    let current = true
    api.getBudget({ limit: 1 }).then(
      (budget) => {
        if (current) applyBudget(budget)
      },
      (error: unknown) => {
        if (current) setLoadError(errorText(error))
      },
    )
    return () => {
      current = false
    }
  }, [api, applyBudget])

  useEffect(
    () =>
      api.client.subscribe((event) => {
        if (event.type !== 'budget_exhausted') return
        const { details } = event.error
        const balance = typeof details.balance_cents === 'number' ? details.balance_cents : null
        setExhaustion({
          code: event.error.code,
          message: event.error.message,
          balanceCents: balance,
          requiredCents: typeof details.required_cents === 'number' ? details.required_cents : null,
        })
        if (balance !== null) setBalanceCents(balance)
      }),
    [api],
  )

  const state = useMemo<BudgetState>(
    () => ({
      balanceCents,
      loadError,
      exhaustion,
      locked: exhaustion !== null || (balanceCents !== null && balanceCents <= 0),
      alerts,
      recordRemaining: setBalanceCents,
      refresh,
    }),
    [balanceCents, loadError, exhaustion, alerts, refresh],
  )
  return <BudgetContext value={state}>{children}</BudgetContext>
}
