// This period's budget alerts (spend past the threshold of the allowance or cap), under the header.
import type { BudgetAlert } from '../api/types'
import { formatMicros } from '../ui/format'
import { useBudget } from './context'

function alertText(alert: BudgetAlert): string {
  const spent = alert.spent_micros === null ? '' : formatMicros(alert.spent_micros)
  const limit = alert.limit_micros === null ? '' : formatMicros(alert.limit_micros)
  switch (alert.kind) {
    case 'allowance_threshold':
      return `You have spent ${spent} of this period's ${limit} allowance.`
    case 'cap_threshold':
      return `You have spent ${spent} of this period's ${limit} spending cap. Calls stop at the cap until the next period.`
    case 'reconcile_drift':
      return 'Your balance was checked against the ledger and corrected.'
    case 'provider_failures':
      return 'A model provider is failing repeatedly.'
  }
}

export function AlertBanner() {
  const { alerts } = useBudget()
  const spend = alerts.filter((a) => a.kind === 'allowance_threshold' || a.kind === 'cap_threshold')
  if (spend.length === 0) return null
  return (
    <div role="status" aria-live="polite" className="border-b border-amber-300 bg-amber-50">
      <ul className="mx-auto max-w-4xl space-y-1 px-3 py-2 text-sm text-amber-900 sm:px-4">
        {spend.map((alert) => (
          <li key={alert.id}>{alertText(alert)}</li>
        ))}
      </ul>
    </div>
  )
}
