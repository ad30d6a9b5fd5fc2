// Usage: this period's budget (allowance, cap, next refill), spend per day as stacked bars, totals by
// model and personality (GET /v1/budget/summary), and the ledger with filters and CSV export.
import { Suspense, lazy, useId, useState, type SubmitEvent } from 'react'
import { useApi } from '../api/context'
import type { Budget, LedgerEntry, StackBy, UsageSummary } from '../api/types'
import { ErrorMessage } from '../ui/ErrorMessage'
import { formatCents, formatCount, formatDateTime, formatMicros } from '../ui/format'
import { useLoad } from '../ui/useLoad'
import { LedgerTable } from '../usage/LedgerTable'
import { NO_FILTERS, daysBetween, groupLabel, ledgerQuery, pivotDays, type Filters } from '../usage/usageData'

const PAGE_SIZE = 20

// The charting library is most of the page's weight: loaded only when the chart is shown.
const SpendChart = lazy(() => import('../usage/SpendChart').then((module) => ({ default: module.SpendChart })))

export function UsagePage() {
  const api = useApi()
  const overview = useLoad(() => api.getBudget({ limit: 1 }))
  const budget = overview.data
  return (
    <div className="space-y-4">
      <h1 className="text-xl font-bold">Usage</h1>
      {overview.error !== null && <ErrorMessage error={overview.error} />}
      {overview.loading && !budget && <p role="status">Loading usage…</p>}
      {budget && <PeriodFigures budget={budget} />}
      {budget && <PeriodCharts budget={budget} />}
      <Ledger />
    </div>
  )
}

function PeriodFigures({ budget }: { budget: Budget }) {
  const allowance = budget.allowance
  return (
    <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-3">
      <Figure label="Balance" value={formatCents(budget.balance_cents)} />
      <Figure label={`Spent this period (${budget.period.kind})`} value={formatMicros(budget.spent_micros_this_period)} />
      <Figure
        label="Held for calls in progress"
        value={`${formatMicros(budget.open_holds.micros)} (${budget.open_holds.count})`}
      />
      {allowance && (
        <Figure
          label={`Allowance (${allowance.refill_rule === 'top_up' ? 'topped up' : 'added'})`}
          value={formatCents(allowance.amount_cents)}
        />
      )}
      {budget.spend_cap_cents !== null && <Figure label="Spending cap" value={formatCents(budget.spend_cap_cents)} />}
      {budget.next_refill_at && <Figure label="Next refill" value={formatDateTime(budget.next_refill_at)} />}
    </dl>
  )
}

function PeriodCharts({ budget }: { budget: Budget }) {
  const api = useApi()
  const [stackBy, setStackBy] = useState<StackBy>('model')
  const { start, end } = budget.period
  const daily = useLoad(() => api.getBudgetSummary({ group_by: 'day', stack_by: stackBy, from: start, to: end }))
  const byModel = useLoad(() => api.getBudgetSummary({ group_by: 'model', from: start, to: end }))
  const byPersonality = useLoad(() => api.getBudgetSummary({ group_by: 'personality', from: start, to: end }))
  const stackId = useId()
  const { reload } = daily
  const days = daysBetween(start.slice(0, 10), end.slice(0, 10))
  const chart = daily.data ? pivotDays(daily.data.groups, days) : null

  return (
    <section aria-labelledby={`${stackId}-title`} className="space-y-3">
      <div className="flex flex-wrap items-end justify-between gap-2">
        <h2 id={`${stackId}-title`} className="text-lg font-semibold">
          This period
        </h2>
        <label className="text-sm">
          <span className="mr-2">Stack by</span>
          <select
            value={stackBy}
            onChange={(event) => {
              setStackBy(event.target.value === 'engine' ? 'engine' : 'model')
              reload()
            }}
            className="rounded-md border border-slate-300 bg-white px-2 py-1"
          >
            <option value="model">model</option>
            <option value="engine">engine</option>
          </select>
        </label>
      </div>
      {daily.error !== null && <ErrorMessage error={daily.error} />}
      {chart && (
        <Suspense fallback={<p role="status">Loading the chart…</p>}>
          <SpendChart rows={chart.rows} stacks={chart.stacks} />
        </Suspense>
      )}
      <div className="grid gap-3 sm:grid-cols-2">
        <Totals title="By model" summary={byModel.data} error={byModel.error} />
        <Totals title="By personality" summary={byPersonality.data} error={byPersonality.error} />
      </div>
    </section>
  )
}

function Totals({ title, summary, error }: { title: string; summary: UsageSummary | null; error: unknown }) {
  return (
    <div className="overflow-x-auto rounded-lg bg-white shadow-sm">
      {error !== null && <ErrorMessage error={error} />}
      <table className="w-full text-left text-sm">
        <caption className="p-2 text-left font-medium">{title}</caption>
        <thead className="border-b border-slate-200 text-slate-600">
          <tr>
            <th scope="col" className="p-2">Name</th>
            <th scope="col" className="p-2 text-right">Calls</th>
            <th scope="col" className="p-2 text-right">Cost</th>
          </tr>
        </thead>
        <tbody>
          {summary?.groups.map((group) => (
            <tr key={group.key} className="border-b border-slate-100 last:border-0">
              <td className="break-all p-2">{groupLabel(group)}</td>
              <td className="p-2 text-right">{formatCount(group.calls)}</td>
              <td className="whitespace-nowrap p-2 text-right">{formatMicros(group.cost_micros)}</td>
            </tr>
          ))}
          {summary && (
            <tr className="font-semibold">
              <td className="p-2">Total</td>
              <td className="p-2 text-right">{formatCount(summary.total.calls)}</td>
              <td className="whitespace-nowrap p-2 text-right">{formatMicros(summary.total.cost_micros)}</td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  )
}

function Ledger() {
  const api = useApi()
  const formId = useId()
  const [draft, setDraft] = useState<Filters>(NO_FILTERS)
  const [filters, setFilters] = useState<Filters>(NO_FILTERS)
  const first = useLoad(() => api.getBudget({ limit: PAGE_SIZE, ...ledgerQuery(filters) }))
  const [more, setMore] = useState<{ rows: LedgerEntry[]; cursor: string | null } | null>(null)
  const [moreError, setMoreError] = useState<unknown>(null)
  const [loadingMore, setLoadingMore] = useState(false)
  const [exportError, setExportError] = useState<unknown>(null)
  const [exporting, setExporting] = useState(false)

  const budget: Budget | null = first.data
  const rows = budget ? [...budget.ledger, ...(more?.rows ?? [])] : []
  const cursor = more ? more.cursor : (budget?.next_cursor ?? null)

  function apply(event: SubmitEvent<HTMLFormElement>) {
    event.preventDefault()
    setMore(null)
    setFilters(draft)
    first.reload()
  }

  async function loadMore() {
    if (!cursor) return
    setLoadingMore(true)
    setMoreError(null)
    try {
      const page = await api.getBudget({ limit: PAGE_SIZE, cursor, ...ledgerQuery(filters) })
      setMore((current) => ({ rows: [...(current?.rows ?? []), ...page.ledger], cursor: page.next_cursor }))
    } catch (error) {
      setMoreError(error)
    } finally {
      setLoadingMore(false)
    }
  }

  async function exportCsv() {
    setExporting(true)
    setExportError(null)
    try {
      const blob = await api.exportLedgerCsv(ledgerQuery(filters))
      const url = URL.createObjectURL(blob)
      const link = document.createElement('a')
      link.href = url
      link.download = 'helix-ledger.csv'
      link.click()
      URL.revokeObjectURL(url)
    } catch (error) {
      setExportError(error)
    } finally {
      setExporting(false)
    }
  }

  return (
    <section aria-labelledby={`${formId}-title`} className="space-y-3">
      <h2 id={`${formId}-title`} className="text-lg font-semibold">
        Ledger
      </h2>
      <form onSubmit={apply} className="flex flex-wrap items-end gap-2 rounded-lg bg-white p-3 shadow-sm">
        <label className="text-sm">
          <span className="label">From</span>
          <input
            type="date"
            value={draft.from}
            onChange={(event) => {
              setDraft({ ...draft, from: event.target.value })
            }}
            className="field mt-1"
          />
        </label>
        <label className="text-sm">
          <span className="label">To (inclusive)</span>
          <input
            type="date"
            value={draft.to}
            onChange={(event) => {
              setDraft({ ...draft, to: event.target.value })
            }}
            className="field mt-1"
          />
        </label>
        <label className="text-sm">
          <span className="label">Agent id</span>
          <input
            value={draft.agentId}
            maxLength={64}
            onChange={(event) => {
              setDraft({ ...draft, agentId: event.target.value })
            }}
            className="field mt-1"
          />
        </label>
        <button type="submit" className="btn-secondary">
          Filter
        </button>
        <button type="button" onClick={() => void exportCsv()} disabled={exporting} className="btn-secondary">
          {exporting ? 'Exporting…' : 'Export CSV'}
        </button>
      </form>
      {exportError !== null && <ErrorMessage error={exportError} />}
      {first.error !== null && <ErrorMessage error={first.error} />}
      {first.loading && <p role="status">Loading the ledger…</p>}
      {budget &&
        (rows.length === 0 ? (
          <p>No usage yet.</p>
        ) : (
          <div className="overflow-x-auto rounded-lg bg-white shadow-sm">
            <LedgerTable rows={rows} />
          </div>
        ))}
      {moreError !== null && <ErrorMessage error={moreError} />}
      {cursor && (
        <button type="button" onClick={() => void loadMore()} disabled={loadingMore} className="btn-secondary">
          {loadingMore ? 'Loading…' : 'Show older usage'}
        </button>
      )}
    </section>
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
