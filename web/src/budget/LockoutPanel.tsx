// Shown in place of the composer when the budget is spent: why, and what to do about it.
import { useState } from 'react'
import { formatCents } from '../ui/format'
import { asSentence } from '../ui/sentence'
import { useBudget } from './context'

export function LockoutPanel() {
  const { exhaustion, balanceCents, refresh } = useBudget()
  const [checking, setChecking] = useState(false)
  const balance = exhaustion?.balanceCents ?? balanceCents
  const required = exhaustion?.requiredCents ?? null
  const capped = exhaustion?.code === 'spend_cap_reached'

  async function checkAgain() {
    setChecking(true)
    try {
      await refresh()
    } finally {
      setChecking(false)
    }
  }

  return (
    <section
      role="alert"
      aria-labelledby="lockout-title"
      className="rounded-lg border border-red-300 bg-red-50 p-4 text-red-900"
    >
      <h2 id="lockout-title" className="font-semibold">
        {capped ? "This period's spending cap is reached" : 'Your budget is used up'}
      </h2>
      <p className="mt-1 text-sm">
        {exhaustion ? asSentence(exhaustion.message) : 'There is no budget left to pay for another turn.'}
        {balance !== null && ` Balance: ${formatCents(balance)}.`}
        {required !== null && ` This turn needed ${formatCents(required)}.`}
      </p>
      <p className="mt-1 text-sm">
        {capped
          ? 'Calls resume when the next period starts, or sooner if an admin raises your cap; then check again.'
          : 'To keep chatting, ask an admin for more budget, then check again.'}
      </p>
      <button
        type="button"
        onClick={() => void checkAgain()}
        disabled={checking}
        className="btn-secondary mt-3"
      >
        {checking ? 'Checking…' : 'Check my budget again'}
      </button>
    </section>
  )
}
