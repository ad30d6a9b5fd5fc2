// The remaining budget, always on screen (a polite live region, so changes are announced).
import { formatCents } from '../ui/format'
import { useBudget } from './context'

export function BudgetBanner() {
  const { balanceCents, loadError, locked } = useBudget()
  let text: string
  if (balanceCents !== null) text = `Budget left: ${formatCents(balanceCents)}`
  else if (loadError) text = `Budget unavailable: ${loadError}`
  else text = 'Budget: loading…'
  return (
    <p
      role="status"
      aria-live="polite"
      className={`rounded-full px-3 py-1 text-sm font-medium ${
        locked ? 'bg-red-100 text-red-800' : 'bg-emerald-100 text-emerald-800'
      }`}
    >
      {text}
    </p>
  )
}
