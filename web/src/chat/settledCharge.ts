// A stopped or cut answer gets no `done`: the server settles its charge once it notices the stream is
// gone. Until then the balance still has the turn's worst-case hold taken off, so ask GET /v1/budget
// until the ledger shows the turn (its exact cost) or no hold is left open.
import type { HelixApi } from '../api/helix'

export interface Settlement {
  balanceCents: number
  /** The turn's ledger row's cost; null when the ledger does not show it (yet). */
  costMicros: number | null
}

export interface SettleOptions {
  attempts?: number
  delayMs?: number
}

/** Enough rows to find a turn that just settled, even with a few from other tabs after it. */
const LEDGER_ROWS = 10

export async function settledCharge(
  api: HelixApi,
  traceId: string | null,
  { attempts = 10, delayMs = 500 }: SettleOptions = {},
): Promise<Settlement> {
  for (let attempt = 1; ; attempt++) {
    const budget = await api.getBudget({ limit: LEDGER_ROWS })
    const row = traceId === null ? undefined : budget.ledger.find((entry) => entry.trace_id === traceId)
    if (row) return { balanceCents: budget.balance_cents, costMicros: row.cost_micros }
    // No hold left and no row: nothing was charged, or the row is out of sight. Out of attempts: it
    // settles slower than we wait. Either way, say the cost is not known rather than guess it.
    if (budget.open_holds.count === 0 || attempt >= attempts) {
      return { balanceCents: budget.balance_cents, costMicros: null }
    }
    await sleep(delayMs)
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
