// Usage: the ledger from GET /v1/budget, newest first, a page at a time (next_cursor).
import { useState } from 'react'
import { useApi } from '../api/context'
import type { Budget, LedgerEntry } from '../api/types'
import { ErrorMessage } from '../ui/ErrorMessage'
import { formatCents, formatCount, formatDateTime, formatMicros } from '../ui/format'
import { useLoad } from '../ui/useLoad'

const PAGE_SIZE = 20

export function UsagePage() {
  const api = useApi()
  const first = useLoad(() => api.getBudget({ limit: PAGE_SIZE }))
  const [more, setMore] = useState<{ rows: LedgerEntry[]; cursor: string | null } | null>(null)
  const [moreError, setMoreError] = useState<unknown>(null)
  const [loadingMore, setLoadingMore] = useState(false)

  const budget: Budget | null = first.data
  const rows = budget ? [...budget.ledger, ...(more?.rows ?? [])] : []
  const cursor = more ? more.cursor : (budget?.next_cursor ?? null)

  async function loadMore() {
    if (!cursor) return
    setLoadingMore(true)
    setMoreError(null)
    try {
      const page = await api.getBudget({ limit: PAGE_SIZE, cursor })
      setMore((current) => ({ rows: [...(current?.rows ?? []), ...page.ledger], cursor: page.next_cursor }))
    } catch (error) {
      setMoreError(error)
    } finally {
      setLoadingMore(false)
    }
  }

  return (
    <div className="space-y-4">
      <h1 className="text-xl font-bold">Usage</h1>
      {first.error !== null && <ErrorMessage error={first.error} />}
      {first.loading && <p role="status">Loading usage…</p>}
      {budget && (
        <>
          <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-3">
            <Figure label="Balance" value={formatCents(budget.balance_cents)} />
            <Figure label="Spent this month" value={formatCents(budget.spent_cents_this_month)} />
            <Figure
              label="Held for turns in progress"
              value={`${formatMicros(budget.open_holds.micros)} (${budget.open_holds.count})`}
            />
          </dl>
          {rows.length === 0 ? (
            <p>No usage yet.</p>
          ) : (
            <div className="overflow-x-auto rounded-lg bg-white shadow-sm">
              <table className="w-full text-left text-sm">
                <caption className="sr-only">Usage ledger, newest first</caption>
                <thead className="border-b border-slate-200 text-slate-600">
                  <tr>
                    <th scope="col" className="p-2">Date</th>
                    <th scope="col" className="p-2">Engine</th>
                    <th scope="col" className="p-2">Model</th>
                    <th scope="col" className="p-2 text-right">Tokens (in / out)</th>
                    <th scope="col" className="p-2 text-right">Cost</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => (
                    <tr key={row.id} className="border-b border-slate-100 last:border-0">
                      <td className="whitespace-nowrap p-2">{formatDateTime(row.created_at)}</td>
                      <td className="p-2">{row.provider ?? '—'}</td>
                      <td className="break-all p-2">{row.model ?? '—'}</td>
                      <td className="whitespace-nowrap p-2 text-right">
                        {formatCount(row.input_tokens)} / {formatCount(row.output_tokens)}
                      </td>
                      <td className="whitespace-nowrap p-2 text-right">{formatMicros(row.cost_micros)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          {moreError !== null && <ErrorMessage error={moreError} />}
          {cursor && (
            <button type="button" onClick={() => void loadMore()} disabled={loadingMore} className="btn-secondary">
              {loadingMore ? 'Loading…' : 'Show older usage'}
            </button>
          )}
        </>
      )}
    </div>
  )
}

function Figure({ label, value }: { label: string; value: string }) {
  return (
    <div className="rounded-lg bg-white p-3 shadow-sm">
      <dt className="text-slate-600">{label}</dt>
      <dd className="text-lg font-semibold">{value}</dd>
    </div>
  )
}
