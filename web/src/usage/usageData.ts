// The Usage page's pure data shaping: ledger filters → API query, summary groups → labels and chart rows.
import type { BudgetQuery, UsageGroup } from '../api/types'

/** The ledger filters as the form holds them: dates (YYYY-MM-DD, UTC) and an agent id. */
export interface Filters {
  from: string
  to: string
  agentId: string
}

export const NO_FILTERS: Filters = { from: '', to: '', agentId: '' }

/** Form filters → the API's query: `to` is the day after the chosen last day (exclusive). */
export function ledgerQuery(filters: Filters): Omit<BudgetQuery, 'limit' | 'cursor'> {
  const query: Omit<BudgetQuery, 'limit' | 'cursor'> = {}
  if (filters.from) query.from = `${filters.from}T00:00:00Z`
  if (filters.to) {
    const end = new Date(`${filters.to}T00:00:00Z`)
    end.setUTCDate(end.getUTCDate() + 1)
    query.to = end.toISOString()
  }
  if (filters.agentId.trim()) query.agent_id = filters.agentId.trim()
  return query
}

/** What a summary group is called: its display name (personalities), else its key; `—` for none. */
export function groupLabel(group: Pick<UsageGroup, 'key' | 'name'>): string {
  return group.name ?? (group.key || '—')
}

export interface DayRow {
  day: string
  [stack: string]: number | string
}

/** Groups of `group_by=day&stack_by=…` → one row per day (every day of the window) and the stack names. */
export function pivotDays(groups: UsageGroup[], days: string[]): { rows: DayRow[]; stacks: string[] } {
  const stacks = [...new Set(groups.map((g) => g.stack || 'other'))].sort()
  const byDay = new Map<string, DayRow>(days.map((day) => [day, { day }]))
  for (const group of groups) {
    const row = byDay.get(group.key) ?? { day: group.key }
    const stack = group.stack || 'other'
    row[stack] = (Number(row[stack] ?? 0) || 0) + group.cost_micros
    byDay.set(group.key, row)
  }
  const rows = [...byDay.values()].sort((a, b) => a.day.localeCompare(b.day))
  return { rows, stacks }
}

/** Every calendar day (YYYY-MM-DD) from `from` up to, not including, `to`, in UTC terms of the keys. */
export function daysBetween(fromDay: string, toDay: string, limit = 62): string[] {
  const days: string[] = []
  const at = new Date(`${fromDay}T00:00:00Z`)
  const end = new Date(`${toDay}T00:00:00Z`)
  while (at < end && days.length < limit) {
    days.push(at.toISOString().slice(0, 10))
    at.setUTCDate(at.getUTCDate() + 1)
  }
  return days
}

